"""The batches of the coming optimizer steps, built in a background thread.

Cutting a step's samples out of the memory-mapped token stream (and, for bert, masking
them) is CPU work that would otherwise sit between two steps while the GPU idles. A
:class:`BatchPrefetcher` builds the host batches of steps ``k+1 .. k+depth`` while step
``k`` trains, as torch tensors, pinned in page-locked memory when they go to a CUDA GPU
(so the copy can be ``non_blocking`` and overlap the compute).

The batches are the same values the training thread would build itself: a step's
samples are a pure function of (seed, step) (:mod:`scalinglab.data.sampler`), so
building them early changes no number. The run's data position is the number of steps
*trained*, which the checkpoint stores; batches built ahead and never trained are simply
dropped, so a resumed run is exact.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from types import TracebackType

import numpy as np
import torch

HostBatch = dict[str, torch.Tensor]
#: Seconds between two looks at the stop flag while the queue is full.
_PUT_POLL_SECONDS = 0.1


def host_tensors(batch: dict[str, np.ndarray], pin: bool) -> HostBatch:
    """``batch`` as CPU tensors sharing its memory, or copied into pinned memory (``pin``,
    which needs CUDA) so that a ``non_blocking`` copy to the GPU is asynchronous."""
    tensors = {key: torch.from_numpy(value) for key, value in batch.items()}
    return {key: t.pin_memory() for key, t in tensors.items()} if pin else tensors


class BatchPrefetcher:
    """The micro-batches of each step of ``steps``, from ``build(step)`` (numpy arrays),
    handed out in order by :meth:`get`. ``depth`` steps are built ahead in a daemon
    thread; ``depth=0`` builds each step in the caller's thread when asked (the
    synchronous path). ``pin`` pins the tensors (for a CUDA device). Use as a context
    manager: leaving it stops the thread."""

    def __init__(
        self,
        build: Callable[[int], Iterable[dict[str, np.ndarray]]],
        steps: range,
        *,
        pin: bool = False,
        depth: int = 2,
    ) -> None:
        if depth < 0:
            raise ValueError(f"prefetch depth must be at least 0, got {depth}")
        self._build = build
        self._pin = pin
        self._steps = iter(steps)
        self._stop = threading.Event()
        self._queue: queue.Queue[tuple[int, list[HostBatch] | BaseException]] = queue.Queue(
            maxsize=max(depth, 1)
        )
        self._thread: threading.Thread | None = None
        if depth > 0:
            self._thread = threading.Thread(target=self._fill, name="batch-prefetch", daemon=True)
            self._thread.start()

    def _make(self, step: int) -> list[HostBatch]:
        return [host_tensors(batch, self._pin) for batch in self._build(step)]

    def _fill(self) -> None:
        for step in self._steps:
            try:
                item: list[HostBatch] | BaseException = self._make(step)
            except BaseException as error:  # handed to the training thread, which raises it
                item = error
            while not self._stop.is_set():
                try:
                    self._queue.put((step, item), timeout=_PUT_POLL_SECONDS)
                    break
                except queue.Full:
                    continue
            if self._stop.is_set() or isinstance(item, BaseException):
                return

    def get(self, step: int) -> list[HostBatch]:
        """The micro-batches of ``step``, which must be the next step of ``steps``."""
        if self._thread is None:
            expected = next(self._steps)
            built: list[HostBatch] | BaseException = self._make(expected)
        else:
            expected, built = self._queue.get()
        if expected != step:
            raise RuntimeError(f"batches asked for step {step}, but the next step is {expected}")
        if isinstance(built, BaseException):
            raise built
        return built

    def close(self) -> None:
        """Stop building ahead and wait for the thread (it ends within a poll)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> BatchPrefetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
