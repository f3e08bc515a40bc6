"""Files written whole or not at all.

A reader (another process, a resumed run, a crash) sees either the old file or the new
one, never half of it: the bytes go to a temporary file in the same folder, are flushed
to disk, and replace the target with one ``os.replace`` (atomic on POSIX and Windows).
Every file scalinglab writes for another process or a later run to read goes through here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


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
        descriptor = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def atomic_write_text(path: str | Path, text: str, *, sync_dir: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), sync_dir=sync_dir)


def atomic_write_json(path: str | Path, data: Any, **dumps_options: Any) -> None:
    """Write ``data`` as JSON (``indent=1`` unless given) to ``path`` atomically."""
    dumps_options.setdefault("indent", 1)
    atomic_write_text(path, json.dumps(data, **dumps_options))
