"""Hostile and careless clients against a real uvicorn server on 127.0.0.1.

Each probe is bounded in count and time: one server with the default text limits (64
texts of 2,000 characters) and short deadlines serves most of them; a second one, with a
concurrency limit of 2, is shut down with slow clients still connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import time

import httpx
import pytest

HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 3.0
SLACK_S = 2.0
"""Allowance over a deadline for a loaded 2-core machine."""

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def hostile(serve_with):
    """A server with the default text limits and 2 s header, 3 s body deadlines."""
    return serve_with(
        "--header-timeout", str(HEADER_TIMEOUT_S), "--body-timeout", str(BODY_TIMEOUT_S)
    )


def port_of(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` (now) and ``VmHWM`` (peak so far) of a process, in KiB, from /proc."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
    return fields


def read_response(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed."""
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks), time.monotonic()


def json_of(raw: bytes) -> dict:
    return json.loads(raw.partition(b"\r\n\r\n")[2])


def assert_error_shape(response: httpx.Response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


@pytest.mark.slow
def test_a_lone_surrogate_fails_alone_among_20_concurrent_requests(hostile):
    """10 trials of 20 good requests sent together with one holding ``"\\ud800"``."""
    good = [json.dumps({"texts": [f"good car {i}", "bad"]}).encode() for i in range(20)]
    bad = b'{"texts": ["fine", "\\ud800"]}'

    async def trial(session: httpx.AsyncClient) -> list[httpx.Response]:
        bodies = [*good[:10], bad, *good[10:]]
        return await asyncio.gather(*(session.post("/predict", content=b) for b in bodies))

    async def trials() -> list[list[httpx.Response]]:
        limits = httpx.Limits(max_connections=21)
        async with httpx.AsyncClient(
            base_url=hostile.url, headers=JSON, limits=limits, timeout=30
        ) as session:
            return [await trial(session) for _ in range(10)]

    for responses in asyncio.run(asyncio.wait_for(trials(), timeout=120)):
        bad_response = responses.pop(10)
        assert [r.status_code for r in responses] == [200] * 20
        assert all(len(r.json()["predictions"]) == 2 for r in responses)
        body = assert_error_shape(bad_response, 422, "invalid_request")
        assert "body.texts.1: lone surrogate U+D800" in body["detail"]


@pytest.mark.slow
def test_a_30_mb_chunked_body_is_refused_without_growing_memory(hostile):
    pid = hostile.process.pid
    with contextlib.suppress(OSError), open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")  # VmHWM := VmRSS, so the peak below is this request's (Linux 4.0+)
    before = memory_kib(pid)
    sent = 0

    def chunks():
        nonlocal sent
        for _ in range(30):
            sent += 1_000_000
            yield b"a" * 1_000_000

    response = httpx.post(f"{hostile.url}/predict", content=chunks(), headers=JSON, timeout=60)
    after = memory_kib(pid)
    body = assert_error_shape(response, 413, "limit_exceeded")
    assert body["limit"] == "max_body_bytes"
    assert body["limit_value"] < body["actual"] < 30_000_000
    assert sent < 30_000_000, "the client sent the whole body: it was not cut off"
    assert (after["VmHWM"] - before["VmRSS"]) / 1024 < 50, (before, after)
    assert httpx.get(f"{hostile.url}/health").status_code == 200


def test_a_body_within_the_text_limits_written_as_escapes_is_accepted(hostile):
    """64 texts of 2,000 astral characters, each written ``\\ud83d\\ude00`` (12 bytes)."""
    text = '"' + "\\ud83d\\ude00" * 2000 + '"'
    body = ('{"texts": [' + ", ".join([text] * 64) + "]}").encode()
    assert len(body) > 64 * 2000 * 12
    response = httpx.post(f"{hostile.url}/predict", content=body, headers=JSON, timeout=60)
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["predictions"]) == 64


def test_a_body_over_the_byte_limit_is_413(hostile):
    limit = httpx.get(f"{hostile.url}/metadata", headers=AUTH).json()["limits"]["max_body_bytes"]
    assert limit >= 64 * 2000 * 12
    body = b'{"texts": ["' + b" " * limit + b'"]}'
    response = httpx.post(f"{hostile.url}/predict", content=body, headers=JSON, timeout=60)
    assert_error_shape(response, 413, "limit_exceeded")


def test_a_client_trickling_its_body_is_cut_off_at_the_body_deadline(hostile):
    with socket.create_connection(("127.0.0.1", port_of(hostile))) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        started = time.monotonic()
        sock.settimeout(2.0)
        raw = b""
        while not raw and time.monotonic() - started < BODY_TIMEOUT_S + SLACK_S:
            try:
                sock.sendall(b"1\r\n \r\n")  # one byte every 2 s
                raw = sock.recv(65536)
            except TimeoutError:
                continue
        rest, closed = read_response(sock, SLACK_S)
    assert raw.startswith(b"HTTP/1.1 408 "), raw
    assert json_of(raw + rest)["limit"] == "body_timeout_s"
    assert closed - started < BODY_TIMEOUT_S + SLACK_S


def test_a_client_trickling_its_headers_is_cut_off_at_the_header_deadline(hostile):
    with socket.create_connection(("127.0.0.1", port_of(hostile))) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /predict HTTP/1.1\r\n")
        raw, closed = read_response(sock, HEADER_TIMEOUT_S + SLACK_S)
    assert raw.startswith(b"HTTP/1.1 408 "), raw
    assert json_of(raw)["error"] == "request_timeout"
    assert HEADER_TIMEOUT_S - 0.1 < closed - started < HEADER_TIMEOUT_S + SLACK_S


def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline(hostile):
    with socket.create_connection(("127.0.0.1", port_of(hostile))) as sock:
        started = time.monotonic()
        raw, closed = read_response(sock, HEADER_TIMEOUT_S + SLACK_S)
    assert raw == b""
    assert closed - started < HEADER_TIMEOUT_S + SLACK_S


@pytest.mark.parametrize(
    ("content", "error", "fragment"),
    [
        (b'{"texts": ["good",', "invalid_request", "not valid JSON (Expecting value at line 1"),
        (b'{"texts": ["good \xff"]}', "invalid_request", "not valid UTF-8 (byte 0xff at byte 17)"),
        (b'{"texts": ["\xed\xa0\x80"]}', "invalid_request", "not valid UTF-8 (byte 0xed"),
        (b"[" * 100_000, "invalid_request", "nested too deeply"),
        (b'{"texts": [' + b"1" * 5000 + b"]}", "invalid_request", "too many digits"),
    ],
)
def test_malformed_bodies_get_the_422_shape(hostile, content, error, fragment):
    response = httpx.post(f"{hostile.url}/predict", content=content, headers=JSON)
    body = assert_error_shape(response, 422, error)
    assert fragment in body["detail"]
    assert fragment in body["problems"][0]


def test_framework_errors_get_the_shape(hostile):
    body = assert_error_shape(
        httpx.get(f"{hostile.url}/predict", headers=AUTH), 405, "method_not_allowed"
    )
    assert "use POST" in body["detail"]
    body = assert_error_shape(httpx.get(f"{hostile.url}/nope", headers=AUTH), 404, "not_found")
    assert "POST /predict" in body["detail"]


@pytest.mark.parametrize(
    "request_head",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000,
    ],
    ids=["garbage", "unfinished-headers-over-16-KiB"],
)
def test_malformed_http_gets_the_shape(hostile, request_head):
    with socket.create_connection(("127.0.0.1", port_of(hostile))) as sock:
        sock.sendall(request_head)
        raw, _ = read_response(sock, SLACK_S)
    assert raw.startswith(b"HTTP/1.1 400 "), raw
    assert json_of(raw)["error"] == "bad_request"


def open_slow_request(port: int) -> socket.socket:
    """A ``/predict`` request whose headers are sent and whose body never comes."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    return sock


@pytest.mark.slow
def test_slow_clients_count_against_the_limit_and_cannot_hold_shutdown(serve_with):
    """With 2 requests stuck in their bodies, a third gets 503; SIGTERM then ends the
    server within the shutdown deadline, and the stuck requests get 503 too."""
    shutdown_s = 2.0
    server = serve_with(
        "--limit-concurrency", "2", "--body-timeout", "120", "--shutdown-timeout", str(shutdown_s)
    )
    slow = [open_slow_request(port_of(server)) for _ in range(2)]
    try:
        time.sleep(0.5)
        response = httpx.post(f"{server.url}/predict", json={"texts": ["good"]}, headers=AUTH)
        body = assert_error_shape(response, 503, "overloaded")
        assert (body["limit"], body["limit_value"]) == ("limit_concurrency", 2)
        assert response.headers["Retry-After"] == "1"
        assert httpx.get(f"{server.url}/health").status_code == 200
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=shutdown_s + 10)
        assert time.monotonic() - started < shutdown_s + SLACK_S
        for sock in slow:
            raw, _ = read_response(sock, SLACK_S)
            assert raw.startswith(b"HTTP/1.1 503 "), raw
            assert json_of(raw)["error"] == "shutting_down"
    finally:
        for sock in slow:
            sock.close()
