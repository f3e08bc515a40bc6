"""Which processes are alive, and tying a child's life to its parent's (stdlib only).

Used where a file or a registry row names the process that owns it (a checkpoint's
temporary folder, a run's lease, a run folder's lock) and where a sweep worker must not
outlive its driver.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

#: ``PR_SET_PDEATHSIG`` from ``<linux/prctl.h>``.
_PR_SET_PDEATHSIG = 1
#: Seconds between two looks at the parent where the kernel cannot signal its death.
PARENT_POLL_SECONDS = 1.0


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (signal 0 probes without sending).

    A process owned by another user counts as alive (``EPERM``): it exists."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when ``parent_pid`` (the process that started it) ends.

    On Linux the kernel sends SIGKILL at the parent's death (``PR_SET_PDEATHSIG``); as the
    parent may have died before the call, the parent is checked once after it. Elsewhere
    a daemon thread checks every ``PARENT_POLL_SECONDS`` whether the parent has changed
    (an orphan is re-parented) and ends the process then."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent_pid:
                os._exit(1)
            return
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)
