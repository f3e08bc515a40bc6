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

BOM = b"\xef\xbb\xbf"


def _decode_line(raw: bytes, path: Path, number: int) -> str:
    """One line as UTF-8 text; a byte that is not UTF-8 is an error naming the line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"not UTF-8 text (byte 0x{raw[error.start]:02x} at column {error.start + 1})",
            fix="save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            file=str(path),
            line=number,
        ) from None


def iter_jsonl_objects(path: Path, *, example: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of ``path`` (1-based lines).

    Raises :class:`InputError` naming the file and line when a line is not valid JSON or
    not a JSON object or not UTF-8 text; ``example`` is a line of the expected shape,
    shown in the fix. A UTF-8 byte-order mark at the start of the file is ignored.
    """
    fix = f"write one JSON object per line, e.g. {example}"
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = _decode_line(raw.removeprefix(BOM) if number == 1 else raw, path, number)
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
