"""Files written whole or not at all, and JSON files read with located errors.

Writes: a reader (another process, a resumed run, a crash) sees either the old file or the new
one, never half of it: the bytes go to a temporary file in the same folder, are flushed
to disk, and replace the target with one ``os.replace`` (atomic on POSIX and Windows).
Every file scalinglab writes for another process or a later run to read goes through here.

Reads: :func:`load_json` is the one way a user's JSON file (a recipe, a fit to plan from,
a run's ``summary.json``) is read: a missing file, a folder, bytes that are not UTF-8 and
malformed JSON are each a one-line :class:`~scalinglab.errors.InputError` naming the
file, and the line and column where there is one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from scalinglab.errors import InputError, not_utf8


def atomic_write_bytes(path: str | Path, data: bytes, *, sync_dir: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename); with
    ``sync_dir`` the folder is fsynced too, so the rename itself survives a power cut."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if sync_dir:
        fsync_path(path.parent)


def fsync_path(path: str | Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    is_dir = Path(path).is_dir()
    descriptor = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if is_dir else 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish_folder(tmp: str | Path, final: str | Path) -> None:
    """Make the finished folder ``tmp`` appear as ``final`` whole or not at all: its
    files are flushed, a previous ``final`` removed, ``tmp`` renamed (one atomic
    ``os.rename`` in the same parent) and the parent flushed, so that a reader or a
    crash sees the old folder, no folder, or the complete new one."""
    tmp, final = Path(tmp), Path(final)
    for file in (p for p in tmp.rglob("*") if p.is_file()):
        fsync_path(file)
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    fsync_path(final.parent)


def atomic_write_text(path: str | Path, text: str, *, sync_dir: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), sync_dir=sync_dir)


def atomic_write_json(path: str | Path, data: Any, **dumps_options: Any) -> None:
    """Write ``data`` as JSON (``indent=1`` unless given) to ``path`` atomically."""
    dumps_options.setdefault("indent", 1)
    atomic_write_text(path, json.dumps(data, **dumps_options))


def strict_json(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by ``None`` (tuples become
    lists), so that ``json.dumps`` writes standard JSON: Python's default ``NaN`` and
    ``Infinity`` tokens are refused by ``jq``, browsers and most other JSON parsers.
    Used for the result files a user reads with other tools (an interval that could not
    be given is ``null`` there)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: strict_json(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [strict_json(value) for value in data]
    return data


def dumps_strict(data: Any, **dumps_options: Any) -> str:
    """``json.dumps`` of :func:`strict_json` ``(data)``; never writes ``NaN``."""
    return json.dumps(strict_json(data), allow_nan=False, **dumps_options)


def load_json(path: str | Path, *, what: str, fix: str) -> Any:
    """The parsed JSON of the user's file ``path``.

    ``what`` names the file in a missing-file error (``"recipe file"``); ``fix`` says
    which file to give instead. Raises :class:`InputError` for a missing or unreadable
    file (a folder), bytes that are not UTF-8 (the first bad byte and its line) and
    invalid JSON (line and column); a UTF-8 byte-order mark is skipped.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} not found", fix=fix, file=str(path)) from None
    except OSError as error:
        problem = f"cannot read the {what} ({error.strerror or error})"
        raise InputError(problem, fix=fix, file=str(path)) from None
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise not_utf8(path, error) from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"invalid JSON ({error.msg})",
            fix=fix,
            file=str(path),
            line=error.lineno,
            column=str(error.colno),
        ) from None
