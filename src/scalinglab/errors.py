"""Errors that scalinglab reports to its users.

Every error a user can cause is a :class:`ScalingLabError`: the CLI prints its one-line
message and exits with status 2, without a traceback. The message says what was wrong,
where (file, line, column when there is one) and how to fix it.

Errors of the environment that a user must fix are turned into such errors here, in one
place: a full disk (:class:`DiskFullError`, naming the path and the space left) and a
file that is not UTF-8 text (:func:`not_utf8`). :func:`as_user_error` is what the CLI
applies to any exception that reaches it; library code that knows the path involved
raises the precise error itself (:func:`disk_full_names`).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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


class ScalingLabWarning(UserWarning):
    """Something the user should know that did not stop the command (the CLI prints it
    as one ``warning:`` line)."""


class DiskFullError(ScalingLabError):
    """No space left on the device that holds ``path``; the message gives the space
    left (``shutil.disk_usage``) so the user sees how much to free."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        free = _free_bytes(self.path)
        left = "unknown space" if free is None else f"{_human_bytes(free)}"
        super().__init__(
            f"{self.path}: no space left on the device ({left} free there); "
            "free some space or write to another disk"
        )


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` reports a full disk: ``OSError`` ``ENOSPC`` or a library error
    wrapping it (safetensors says ``os error 28``)."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    return f"(os error {errno.ENOSPC})" in str(error)


@contextmanager
def disk_full_names(path: str | Path) -> Iterator[None]:
    """Turn a full-disk error raised inside the block into a :class:`DiskFullError`
    naming ``path`` (the folder the block writes to)."""
    try:
        yield
    except ScalingLabError:
        raise
    except Exception as error:
        if is_disk_full(error):
            raise DiskFullError(path) from None
        raise


def not_utf8(path: str | Path, error: UnicodeDecodeError) -> InputError:
    """The error for a file that is not UTF-8 text: the first bad byte and its line (from
    ``error`` when it decoded the whole file at once; otherwise, as a streamed read
    decodes blocks whose offsets are not the file's, by scanning the file's lines)."""
    bad = f"byte 0x{error.object[error.start]:02x} is not UTF-8 ({error.reason})"
    try:
        whole = len(error.object) == Path(path).stat().st_size
    except OSError:
        whole = False
    line = error.object.count(b"\n", 0, error.start) + 1 if whole else _first_bad_line(path)
    return InputError(
        bad, fix="save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)", file=str(path), line=line
    )


def _first_bad_line(path: str | Path) -> int | None:
    """1-based number of the first line of ``path`` that is not valid UTF-8."""
    try:
        with Path(path).open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    return number
    except OSError:
        return None
    return None


def as_user_error(error: BaseException) -> ScalingLabError | None:
    """The one-line user error for an environment error that reached the CLI without
    one (a full disk, a file that is not UTF-8), or ``None`` for a program error."""
    if isinstance(error, ScalingLabError):
        return error
    if is_disk_full(error):
        return DiskFullError(getattr(error, "filename", None) or os.getcwd())
    if isinstance(error, UnicodeDecodeError):
        return ScalingLabError(
            f"an input is not UTF-8 text ({error.reason} at byte offset {error.start}); "
            "save it as UTF-8"
        )
    return None


def _free_bytes(path: Path) -> int | None:
    """Free bytes on the file system of ``path`` or of its nearest existing parent."""
    for candidate in (path, *path.absolute().parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def _human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"
