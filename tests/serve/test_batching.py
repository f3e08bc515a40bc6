"""MicroBatcher: concurrent requests share forward passes and get their own results."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.finetune.predictor import Predictor
from scalinglab.serve.batching import MicroBatcher


class RecordingPredictor(Predictor):
    """The real predictor, remembering how many texts each forward call got."""

    def __init__(self, model_dir) -> None:
        super().__init__(model_dir)
        self.calls: list[int] = []

    def predict(self, texts, batch_size=64):
        self.calls.append(len(texts))
        return super().predict(texts, batch_size)


@pytest.fixture(scope="module")
def predictor(classifier_dir):
    return RecordingPredictor(classifier_dir)


REQUESTS = [[f"good car {i}", "bad ride " * (i % 4), "love"][: 1 + i % 3] for i in range(12)]


async def serve_all(batcher: MicroBatcher, requests: list[list[str]]):
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.predict(texts) for texts in requests))
    finally:
        await batcher.stop()


def probabilities(predictions) -> np.ndarray:
    return np.array([list(p.probabilities.values()) for p in predictions])


def test_each_request_gets_its_own_predictions_in_order(predictor):
    predictor.calls.clear()
    batcher = MicroBatcher(predictor, max_batch_size=8, max_wait_ms=50)
    results = asyncio.run(serve_all(batcher, REQUESTS))
    for texts, got in zip(REQUESTS, results, strict=True):
        want = Predictor.predict(predictor, texts)
        assert [p.label for p in got] == [p.label for p in want]
        np.testing.assert_allclose(probabilities(got), probabilities(want), atol=1e-5)
    assert batcher.texts_run == sum(len(texts) for texts in REQUESTS)
    assert batcher.batches_run == len(predictor.calls)
    assert len(predictor.calls) < len(REQUESTS)
    assert max(predictor.calls) <= 8


def test_a_request_larger_than_the_batch_runs_alone(predictor):
    predictor.calls.clear()
    batcher = MicroBatcher(predictor, max_batch_size=2, max_wait_ms=20)
    big, small = ["good"] * 5, ["bad"]
    results = asyncio.run(serve_all(batcher, [big, small]))
    assert [len(result) for result in results] == [5, 1]
    assert predictor.calls == [5, 1]


def test_disabled_batching_runs_one_pass_per_request(predictor):
    predictor.calls.clear()
    batcher = MicroBatcher(predictor, max_batch_size=8, max_wait_ms=50, enabled=False)
    results = asyncio.run(serve_all(batcher, REQUESTS))
    assert [len(result) for result in results] == [len(texts) for texts in REQUESTS]
    assert sorted(predictor.calls) == sorted(len(texts) for texts in REQUESTS)


def test_a_failing_batch_fails_its_requests_and_the_worker_lives_on(predictor):
    batcher = MicroBatcher(predictor, max_batch_size=8, max_wait_ms=0)

    async def scenario():
        batcher.start()
        try:
            with pytest.raises(ScalingLabError, match="not a string"):
                await batcher.predict(["good", 3])
            return await batcher.predict(["good"])
        finally:
            await batcher.stop()

    (prediction,) = asyncio.run(scenario())
    assert prediction.label in predictor.labels


def test_a_bad_request_in_a_shared_batch_fails_alone(predictor):
    """A lone surrogate crashes the tokenizer; the batch is rerun one request at a time, so
    the 20 good requests that shared its forward pass still get their predictions."""
    good = [[f"good car {i}", "bad ride " * (i % 3)] for i in range(20)]
    bad = ["fine", "\ud800"]
    predictor.calls.clear()
    batcher = MicroBatcher(predictor, max_batch_size=64, max_wait_ms=200)

    async def scenario():
        batcher.start()
        try:
            return await asyncio.gather(
                *(batcher.predict(texts) for texts in [*good[:10], bad, *good[10:]]),
                return_exceptions=True,
            )
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    assert predictor.calls[0] == 2 * 20 + 2, "the 21 requests did not share a first pass"
    assert isinstance(results[10], TypeError)
    for texts, got in zip(good, results[:10] + results[11:], strict=True):
        want = Predictor.predict(predictor, texts)
        assert [p.label for p in got] == [p.label for p in want]
        np.testing.assert_allclose(probabilities(got), probabilities(want), atol=1e-5)
    assert batcher.texts_run == 2 * 20


def test_predict_before_start_is_an_error(predictor):
    with pytest.raises(RuntimeError, match="start"):
        asyncio.run(MicroBatcher(predictor).predict(["good"]))


@pytest.mark.parametrize(("size", "wait"), [(0, 5.0), (4, -1.0)])
def test_bad_settings_are_refused(predictor, size, wait):
    with pytest.raises(ValueError, match="must be at least"):
        MicroBatcher(predictor, max_batch_size=size, max_wait_ms=wait)
