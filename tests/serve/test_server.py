"""The prediction server, tested over HTTP against a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from scalinglab.finetune.predictor import Predictor
from scalinglab.serve.app import create_app

LABELS = ["negative", "positive", "neutral-ish"]


def auth(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def test_health_is_open(server):
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_metadata_names_model_labels_method_metrics_and_limits(server, classifier_dir):
    body = httpx.get(f"{server.url}/metadata", headers=auth(server)).json()
    assert body["model"] == str(classifier_dir)
    assert body["labels"] == LABELS
    assert body["method"] == "full"
    assert body["metrics"] == {"test": {"macro_f1": 0.5, "accuracy": 0.5}}
    assert body["limits"]["max_texts_per_request"] == 8
    assert body["limits"]["max_chars_per_text"] == 200
    assert body["limits"]["max_batch_size"] == 16
    assert body["auth"] is True
    assert body["device"] == "cpu"  # --device auto on a machine without CUDA


def test_predict_matches_the_predictor_in_input_order(server, classifier_dir):
    texts = ["good car", "", "the ride was terrible and sad and bad", "love", "a"]
    response = httpx.post(f"{server.url}/predict", json={"texts": texts}, headers=auth(server))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["labels"] == LABELS
    expected = Predictor(classifier_dir).predict(texts)
    assert len(body["predictions"]) == len(texts)
    for got, want in zip(body["predictions"], expected, strict=True):
        assert got["label"] == want.label
        assert got["probabilities"] == pytest.approx(want.probabilities, abs=1e-5)
        assert list(got["probabilities"]) == LABELS


def test_too_many_texts_names_the_limit(server):
    response = httpx.post(
        f"{server.url}/predict", json={"texts": ["good"] * 9}, headers=auth(server)
    )
    assert response.status_code == 413
    body = response.json()
    assert body["limit"] == "max_texts_per_request"
    assert (body["limit_value"], body["actual"]) == (8, 9)
    assert "max_texts_per_request" in body["detail"]


def test_too_long_text_names_the_limit_and_the_text(server):
    response = httpx.post(
        f"{server.url}/predict", json={"texts": ["good", "a" * 201]}, headers=auth(server)
    )
    assert response.status_code == 413
    body = response.json()
    assert body["limit"] == "max_chars_per_text"
    assert (body["limit_value"], body["actual"]) == (200, 201)
    assert "text 1 has 201 characters" in body["detail"]


def test_oversized_body_is_refused_before_it_is_read(server):
    body = b'{"texts": ["' + b"a" * 2_000_000 + b'"]}'
    response = httpx.post(
        f"{server.url}/predict",
        content=body,
        headers={**auth(server), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["limit"] == "max_body_bytes"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"texts": ["good",', "not valid JSON"),
        (b"[]", "body: Input should be a valid dictionary"),
        (b'{"texts": "good"}', "body.texts: Input should be a valid list"),
        (b'{"texts": ["good", 3, null]}', "body.texts.1: Input should be a valid string"),
        (b'{"texts": []}', "body.texts: List should have at least 1 item"),
        (b'{"text": ["good"]}', "body.texts: Field required"),
    ],
)
def test_malformed_body_is_a_clear_422(server, content, fragment):
    response = httpx.post(
        f"{server.url}/predict",
        content=content,
        headers={**auth(server), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert fragment in body["detail"]


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic s3cret", "s3cret"])
def test_wrong_or_missing_token_is_401(server, header):
    headers = {} if header is None else {"Authorization": header}
    for response in (
        httpx.post(f"{server.url}/predict", json={"texts": ["good"]}, headers=headers),
        httpx.post(f"{server.url}/predict", content=b"{", headers=headers),
        httpx.get(f"{server.url}/metadata", headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["error"] == "unauthorized"


def test_body_that_is_not_declared_json_says_so(server):
    response = httpx.post(
        f"{server.url}/predict",
        content=b'{"texts": ["good"]}',
        headers={**auth(server), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422
    assert "not application/json" in response.json()["detail"]


def test_server_stays_up_after_bad_requests(server):
    for content in (b"{", b"null", b'{"texts": [[]]}', b"\xff\xfe"):
        response = httpx.post(
            f"{server.url}/predict",
            content=content,
            headers={**auth(server), "Content-Type": "application/json"},
        )
        assert 400 <= response.status_code < 500
    assert server.process.poll() is None
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    response = httpx.post(f"{server.url}/predict", json={"texts": ["good"]}, headers=auth(server))
    assert response.status_code == 200


def test_concurrent_load_has_no_errors_and_is_micro_batched(server):
    """8 clients x 25 requests over loopback; p95 latency is reported, not asserted."""
    clients, requests_each = 8, 25
    before = httpx.get(f"{server.url}/metadata", headers=auth(server)).json()

    async def client(index: int, latencies: list[float]) -> int:
        errors = 0
        async with httpx.AsyncClient(base_url=server.url, headers=auth(server)) as session:
            for number in range(requests_each):
                texts = [f"good car {index}", "bad ride " * (number % 5)]
                start = time.perf_counter()
                response = await session.post("/predict", json={"texts": texts}, timeout=30)
                latencies.append(time.perf_counter() - start)
                ok = response.status_code == 200 and len(response.json()["predictions"]) == 2
                errors += not ok
        return errors

    async def run() -> tuple[list[int], list[float]]:
        latencies: list[float] = []
        errors = await asyncio.gather(*(client(i, latencies) for i in range(clients)))
        return errors, latencies

    start = time.perf_counter()
    errors, latencies = asyncio.run(asyncio.wait_for(run(), timeout=120))
    elapsed = time.perf_counter() - start
    latencies.sort()
    p95_ms = 1000 * latencies[int(0.95 * len(latencies)) - 1]
    print(f"\n{clients * requests_each} requests in {elapsed:.1f} s, p95 {p95_ms:.1f} ms")
    assert sum(errors) == 0
    assert len(latencies) == clients * requests_each
    after = httpx.get(f"{server.url}/metadata", headers=auth(server)).json()
    requests = clients * requests_each
    assert after["texts_run"] - before["texts_run"] == 2 * requests
    # Micro-batched: with 8 clients in flight, forward passes merge requests, on average
    # at least two per pass (a single merge of two requests among 200 does not pass).
    batches = after["batches_run"] - before["batches_run"]
    print(f"{requests} requests in {batches} forward passes")
    assert batches <= requests / 2


@pytest.mark.parametrize("name", ["max_texts_per_request", "max_chars_per_text", "max_batch_size"])
def test_create_app_refuses_limits_below_one(classifier_dir, name):
    with pytest.raises(ValueError, match=f"{name} must be at least 1"):
        create_app(classifier_dir, **{name: 0})


def test_a_failure_of_the_server_is_a_500_in_the_error_shape(classifier_dir):
    """A forward pass that fails for a reason of the server's own, in-process."""
    from fastapi.testclient import TestClient

    class BrokenPredictor:
        def predict(self, texts, batch_size):
            raise RuntimeError("out of memory")

    app = create_app(classifier_dir, micro_batching=False)
    app.state.batcher.predictor = BrokenPredictor()
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/predict", json={"texts": ["good"]})
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "RuntimeError" in response.json()["detail"]


def test_the_byte_limit_holds_the_largest_body_json_can_write():
    """``json.dumps`` escapes every non-ASCII character; astral ones as surrogate pairs."""
    from scalinglab.serve.validation import max_body_bytes

    texts = ["\U0001f600" * 2000] * 64
    assert len(json.dumps({"texts": texts}).encode()) <= max_body_bytes(64, 2000)
    assert len(json.dumps({"texts": ["é" * 2000] * 64}).encode()) <= max_body_bytes(64, 2000)
