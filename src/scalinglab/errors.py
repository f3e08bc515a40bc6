"""Errors that scalinglab reports to its users.

Every error a user can cause is a :class:`ScalingLabError`: the CLI prints its one-line
message and exits with status 2, without a traceback. The message says what was wrong,
where (file, line, column when there is one) and how to fix it.
"""

from __future__ import annotations


class ScalingLabError(Exception):
    """A problem with the user's input or environment, worded for the user."""

    exit_code = 2


class InputError(ScalingLabError):
    """Bad input data, located by file, line and column where known.

    ``line`` is the 1-based line in the file as a text editor shows it (the header of a
    CSV is line 1, so the first data row is line 2); ``column`` is the column name.
    """

    def __init__(
        self,
        problem: str,
        *,
        fix: str,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.problem = problem
        self.fix = fix
        self.file = file
        self.line = line
        self.column = column
        super().__init__(self._format())

    def _format(self) -> str:
        where = [
            part
            for part in (self.file, _opt("line", self.line), _opt("column", self.column))
            if part
        ]
        prefix = ", ".join(where) + ": " if where else ""
        return f"{prefix}{self.problem}; {self.fix}"


def _opt(label: str, value: object) -> str | None:
    return None if value is None else f"{label} {value}"
