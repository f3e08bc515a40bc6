"""Hostile clients against ``scalinglab serve``: the figures of issue 11's acceptance.

Starts a real ``scalinglab serve`` (uvicorn on 127.0.0.1) and measures:

1. Lone surrogate among good requests: ``--trials`` times, ``--good`` requests of one
   tweet each sent concurrently with one ``{"texts": ["fine", "\\ud800"]}``; per trial,
   how many good ones got 200 and what the bad one got (422 expected).
2. A ``--chunked-mb`` MB body sent with chunked transfer encoding (no Content-Length):
   the status, how much the client sent before the server cut it off, and the server
   process's memory from ``/proc/PID/status``: ``VmRSS`` before (after a warm-up) and
   after, and the peak ``VmHWM`` during the request (reset just before it through
   ``/proc/PID/clear_refs``); "growth" is that peak minus the RSS before.
3. A client sending its body one byte every 2 s: the status and when it was cut off.
4. SIGTERM with a client stuck in its body: how long the server took to exit.

The server runs with the command's default deadlines (body 30 s, shutdown 10 s) unless
``--body-timeout`` / ``--shutdown-timeout`` say otherwise; keep the body deadline above the
shutdown one, or the stuck client is cut off by the body deadline before shutdown's.

The model is ``--model DIR`` or, by default, the embedded MiniLM-L6 with a fresh
two-label head (as in ``serve_load.py``), so memory is that of a real deployment.

    python benchmarks/serve_hostile.py --trials 10 --good 20 --chunked-mb 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx
from serve_load import TOKEN, _build_classifier, _tweets

JSON_HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def main() -> None:
    args = _parser().parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model or _build_classifier(args.base, Path(scratch) / "classifier")
        process, log, url = _start(model_dir, args)
        try:
            results = {
                "surrogate": _surrogate_trials(url, args),
                "chunked": _chunked_body(url, process.pid, args),
                "slow_body": _slow_body(url, args),
            }
            results["shutdown"] = _shutdown_with_slow_client(url, process, args)
        finally:
            _stop(process, log)
    print(_report(results, args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="classifier directory to serve")
    parser.add_argument(
        "--base", default="minilm", help="without --model: encoder given a fresh head"
    )
    parser.add_argument("--trials", type=int, default=10, help="lone-surrogate trials")
    parser.add_argument("--good", type=int, default=20, help="good requests per trial")
    parser.add_argument("--chunked-mb", type=int, default=30, help="chunked body size (MB)")
    parser.add_argument(
        "--body-timeout", type=float, default=30.0, help="the server's --body-timeout (s)"
    )
    parser.add_argument(
        "--shutdown-timeout", type=float, default=10.0, help="the server's --shutdown-timeout (s)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads of the server")
    parser.add_argument("--json", help="write the figures to this JSON file")
    return parser


def _start(model_dir: Path, args: Any) -> tuple[subprocess.Popen, IO[str], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "scalinglab", "serve", "--model", str(model_dir),
        "--port", str(port), "--threads", str(args.threads), "--log-level", "warning",
        "--body-timeout", str(args.body_timeout),
        "--shutdown-timeout", str(args.shutdown_timeout),
    ]  # fmt: skip
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by _stop)
    env = {**os.environ, "SCALINGLAB_TOKEN": TOKEN}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, log, url
        except httpx.TransportError:
            time.sleep(0.2)
    _stop(process, log)
    raise RuntimeError("the server did not start; run the serve command by hand to see why")


def _stop(process: subprocess.Popen, log: IO[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()


def _surrogate_trials(url: str, args: Any) -> dict[str, Any]:
    texts = _tweets(args.good)
    good = [json.dumps({"texts": [text]}).encode() for text in texts]
    bad = b'{"texts": ["fine", "\\ud800"]}'
    middle = args.good // 2

    async def trials() -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=args.good + 1)
        async with httpx.AsyncClient(
            base_url=url, headers=JSON_HEADERS, limits=limits, timeout=120
        ) as session:
            figures = []
            for _ in range(args.trials):
                bodies = [*good[:middle], bad, *good[middle:]]
                responses = await asyncio.gather(
                    *(session.post("/predict", content=body) for body in bodies)
                )
                bad_response = responses.pop(middle)
                figures.append(
                    {
                        "good_200": sum(r.status_code == 200 for r in responses),
                        "bad_status": bad_response.status_code,
                        "bad_error": bad_response.json().get("error"),
                    }
                )
            return figures

    per_trial = asyncio.run(trials())
    clean = sum(t["good_200"] == args.good and t["bad_status"] == 422 for t in per_trial)
    return {"trials": per_trial, "clean_trials": clean}


def _memory_mib(pid: int) -> dict[str, float]:
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
    return fields


def _reset_peak(pid: int) -> None:
    """Reset the process's ``VmHWM`` to its current RSS (Linux 4.0+), so that the peak
    read afterwards is the peak of what follows; where not allowed, the peak stays the
    lifetime one, an upper bound."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")


def _chunked_body(url: str, pid: int, args: Any) -> dict[str, Any]:
    httpx.post(f"{url}/predict", json={"texts": _tweets(64)}, headers=JSON_HEADERS, timeout=120)
    _reset_peak(pid)
    before = _memory_mib(pid)
    sent = 0

    def chunks():
        nonlocal sent
        for _ in range(args.chunked_mb):
            sent += 1_000_000
            yield b"a" * 1_000_000

    began = time.perf_counter()
    response = httpx.post(f"{url}/predict", content=chunks(), headers=JSON_HEADERS, timeout=120)
    seconds = time.perf_counter() - began
    after = _memory_mib(pid)
    return {
        "status": response.status_code,
        "error": response.json().get("error"),
        "server_counted_bytes": response.json().get("actual"),
        "client_sent_mb": sent / 1e6,
        "seconds": seconds,
        "rss_before_mib": before["VmRSS"],
        "rss_after_mib": after["VmRSS"],
        "peak_mib": after["VmHWM"],
        "growth_mib": after["VmHWM"] - before["VmRSS"],
    }


def _open_slow_request(url: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
    sock.sendall(
        f"POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )
    return sock


def _slow_body(url: str, args: Any) -> dict[str, Any]:
    """One byte every 2 s until the server answers; the status and when it answered."""
    with _open_slow_request(url) as sock:
        began = time.monotonic()
        sock.settimeout(2.0)
        answer = b""
        while not answer and time.monotonic() - began < args.body_timeout + 30:
            try:
                sock.sendall(b"1\r\n \r\n")
                answer = sock.recv(65536)
            except TimeoutError:
                continue
        seconds = time.monotonic() - began
    status = int(answer.split(b" ", 2)[1]) if answer else None
    return {"status": status, "cut_off_after_s": seconds}


def _shutdown_with_slow_client(url: str, process: subprocess.Popen, args: Any) -> dict[str, Any]:
    with _open_slow_request(url) as sock:
        sock.sendall(b"1\r\n{\r\n")
        time.sleep(0.5)
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=args.shutdown_timeout + 60)
        return {"exit_after_s": time.monotonic() - began, "returncode": process.returncode}


def _report(results: dict[str, Any], args: Any) -> str:
    surrogate, chunked = results["surrogate"], results["chunked"]
    slow, shutdown = results["slow_body"], results["shutdown"]
    lines = [f"lone surrogate with {args.good} good concurrent requests:"]
    for number, trial in enumerate(surrogate["trials"], 1):
        lines.append(
            f"  trial {number}: good {trial['good_200']}/{args.good} answered 200, "
            f"bad {trial['bad_status']} ({trial['bad_error']})"
        )
    lines += [
        f"  {args.good}/{args.good} 200 and the bad one 422 in {surrogate['clean_trials']} "
        f"of {args.trials} trials",
        f"{args.chunked_mb} MB chunked body: {chunked['status']} ({chunked['error']}) after "
        f"the server counted {chunked['server_counted_bytes']} bytes; the client had sent "
        f"{chunked['client_sent_mb']:.0f} MB in {chunked['seconds']:.2f} s",
        f"  server RSS before {chunked['rss_before_mib']:.1f} MiB, after "
        f"{chunked['rss_after_mib']:.1f} MiB, peak during the request (VmHWM) "
        f"{chunked['peak_mib']:.1f} MiB: "
        f"growth {chunked['growth_mib']:.1f} MiB",
        f"slow body (1 byte every 2 s, --body-timeout {args.body_timeout:g}): "
        f"{slow['status']} after {slow['cut_off_after_s']:.1f} s",
        f"SIGTERM with a slow client connected (--shutdown-timeout "
        f"{args.shutdown_timeout:g}): exited after {shutdown['exit_after_s']:.1f} s",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
