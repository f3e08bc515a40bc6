"""Micro-batching: merge the texts of concurrent requests into one forward pass.

Requests wait in an asyncio queue. One worker task takes the first waiting request, then
keeps collecting requests until the batch holds ``max_batch_size`` texts or
``max_wait_ms`` milliseconds have passed since the first one arrived, runs a single
forward pass in a worker thread (so the event loop keeps accepting requests meanwhile) and
resolves each request's future with its own slice of the predictions. Requests that
arrive during a forward pass queue up and form the next batch, so under load batches fill
without waiting, and a lone request pays at most ``max_wait_ms`` extra latency.

A request with more texts than ``max_batch_size`` is never split: it forms a batch alone.
If a shared forward pass fails, its requests are run again one at a time, so that only the
request at fault gets the error and the others their predictions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass

from scalinglab.finetune.predictor import Prediction, Predictor


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future[list[Prediction]]
    arrived: float


class MicroBatcher:
    """Collects concurrent ``predict`` calls into shared forward passes.

    Call :meth:`start` inside the running event loop (the app's lifespan) and
    :meth:`stop` on shutdown. With ``enabled=False`` every call runs its own forward pass
    (still in a worker thread), which is the baseline the benchmark compares against.
    ``batches_run`` and ``texts_run`` count forward passes and texts, for ``/metadata``.
    """

    def __init__(
        self,
        predictor: Predictor,
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 5.0,
        enabled: bool = True,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be at least 0, got {max_wait_ms}")
        self.predictor = predictor
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.enabled = enabled
        self.batches_run = 0
        self.texts_run = 0
        self._waiting: deque[_Pending] = deque()
        self._arrival: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the worker task in the running event loop."""
        if self.enabled and self._worker is None:
            self._arrival = asyncio.Event()
            self._worker = asyncio.create_task(self._run(), name="scalinglab-micro-batcher")

    async def stop(self) -> None:
        """Stop the worker and fail every request still waiting."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        while self._waiting:
            pending = self._waiting.popleft()
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("server is shutting down"))

    async def predict(self, texts: list[str]) -> list[Prediction]:
        """Predictions for ``texts``, in order, computed in a shared forward pass."""
        if not self.enabled:
            return await self._forward(texts)
        if self._arrival is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Prediction]] = loop.create_future()
        self._waiting.append(_Pending(texts, future, loop.time()))
        self._arrival.set()
        return await future

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            await self._serve(batch)

    async def _collect(self) -> list[_Pending]:
        """Wait for a first request, then for more until the batch is full or time is up."""
        assert self._arrival is not None
        loop = asyncio.get_running_loop()
        while not self._waiting:
            self._arrival.clear()
            await self._arrival.wait()
        deadline = self._waiting[0].arrived + self.max_wait_s
        while self._queued_texts() < self.max_batch_size:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._arrival.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrival.wait(), remaining)
        batch = [self._waiting.popleft()]
        size = len(batch[0].texts)
        while self._waiting and size + len(self._waiting[0].texts) <= self.max_batch_size:
            pending = self._waiting.popleft()
            batch.append(pending)
            size += len(pending.texts)
        return batch

    def _queued_texts(self) -> int:
        return sum(len(pending.texts) for pending in self._waiting)

    async def _serve(self, batch: list[_Pending]) -> None:
        live = [pending for pending in batch if not pending.future.done()]
        if not live:
            return
        texts = [text for pending in live for text in pending.texts]
        try:
            predictions = await self._forward(texts)
        except Exception as error:
            if len(live) == 1:
                _settle(live[0], error=error)
            else:  # find the request at fault: each one alone, so only it fails
                await self._serve_one_by_one(live)
            return
        start = 0
        for pending in live:
            end = start + len(pending.texts)
            _settle(pending, predictions[start:end])
            start = end

    async def _serve_one_by_one(self, live: list[_Pending]) -> None:
        for pending in live:
            try:
                _settle(pending, await self._forward(pending.texts))
            except Exception as error:  # this request's own error; the worker lives on
                _settle(pending, error=error)

    async def _forward(self, texts: list[str]) -> list[Prediction]:
        """One forward pass in a worker thread, counted in ``batches_run``/``texts_run``."""
        predictions = await asyncio.to_thread(self.predictor.predict, texts, self.max_batch_size)
        self.batches_run += 1
        self.texts_run += len(texts)
        return predictions


def _settle(
    pending: _Pending,
    predictions: list[Prediction] | None = None,
    error: Exception | None = None,
) -> None:
    """Resolve a request's future unless its client has already gone."""
    if pending.future.done():
        return
    if error is not None:
        pending.future.set_exception(error)
    else:
        pending.future.set_result(predictions)
