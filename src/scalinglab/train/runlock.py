"""One training process per run folder: an exclusive ``flock`` on ``DIR/.lock``.

Two processes continuing one run folder (``train --resume`` twice, or a sweep worker
beside a manual resume) would interleave checkpoints and metrics; the second to come
gets a one-line error naming the holder instead. The kernel drops the lock when its
holder exits, however it exits, so a killed run never leaves a stale lock behind; the
file stays (deleting it would let two processes lock two different files).
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scalinglab.errors import ScalingLabError

LOCK_NAME = ".lock"


@contextmanager
def run_folder_lock(out_dir: str | Path) -> Iterator[None]:
    """Hold the run folder's lock for the block; raise :class:`ScalingLabError` at once
    when another process holds it."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_NAME).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ScalingLabError(
                f"{folder} is being trained by {holder}; wait for it to end or choose another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        yield
