"""Reading JSON Lines files: one JSON object per line, errors located by line.

Runs tables, fine-tuning tasks, prediction inputs and corpora all accept JSONL; they
share this reader so that a bad line is reported the same way everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scalinglab.errors import InputError


def iter_jsonl_objects(path: Path, *, example: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of ``path`` (1-based lines).

    Raises :class:`InputError` naming the file and line when a line is not valid JSON or
    not a JSON object; ``example`` is a line of the expected shape, shown in the fix.
    A UTF-8 byte-order mark at the start of the file is ignored.
    """
    fix = f"write one JSON object per line, e.g. {example}"
    with Path(path).open(encoding="utf-8-sig") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                raise InputError(
                    f"not valid JSON ({error.msg}, character {error.colno})",
                    fix=fix,
                    file=str(path),
                    line=number,
                ) from None
            if not isinstance(record, dict):
                raise InputError(
                    f"a JSON {type(record).__name__}, not an object",
                    fix=fix,
                    file=str(path),
                    line=number,
                )
            yield number, record
