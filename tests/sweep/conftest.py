"""Fixtures for sweep tests: a real Ray cluster on 127.0.0.1 (head + one worker node),
and a design of tiny real training runs (seconds each)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

RAY = str(Path(sys.executable).parent / "ray")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cluster_processes(marks: list[str]) -> list:
    """The processes of the Ray cluster this session started: those whose command line
    names one of ``marks`` (its GCS address, its nodes' temporary folders), and their
    descendants (workers rename themselves ``ray::...``). Other Ray clusters on the
    machine name none of them and are left alone."""
    import psutil

    found = {}
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if any(mark in command for mark in marks):
            found[process.pid] = process
    for process in list(found.values()):
        try:
            found.update({child.pid: child for child in process.children(recursive=True)})
        except psutil.NoSuchProcess:
            continue
    return [p for pid, p in found.items() if pid != os.getpid()]


def _stop_cluster(marks: list[str]) -> None:
    """SIGTERM this session's cluster processes, then SIGKILL what is left after 10 s."""
    import psutil

    processes = _cluster_processes(marks)
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(processes, timeout=10)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=10)


@pytest.fixture(scope="session")
def ray_cluster():
    """``HOST:PORT`` of a two-node Ray cluster (1 CPU each) started for this session and
    stopped at its end by process id: only its own processes (found by its address and
    its temporary folders), never the other Ray clusters on the machine (``ray stop``
    would stop every one). Its workers can import the helper modules of this folder
    (``dying_worker``): it is on their ``PYTHONPATH``."""
    pytest.importorskip("ray")
    pytest.importorskip("psutil")
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": path}
    port = _free_port()
    address = f"127.0.0.1:{port}"
    # short folders under /tmp: Ray's unix sockets live there (path length limit)
    head_dir, node_dir = (tempfile.mkdtemp(prefix="sl-ray-", dir="/tmp") for _ in range(2))
    marks = [address, f"--gcs_server_port={port}", head_dir, node_dir]
    common = ["--num-cpus", "1", "--object-store-memory", "100000000", "--disable-usage-stats"]
    try:
        subprocess.run(
            [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
             "--include-dashboard", "false", "--temp-dir", head_dir, *common],
            check=True, env=env, capture_output=True, timeout=120,
        )  # fmt: skip
        subprocess.run(
            [RAY, "start", "--address", address, "--node-ip-address", "127.0.0.1",
             "--temp-dir", node_dir, *common],
            check=True, env=env, capture_output=True, timeout=120,
        )  # fmt: skip
        yield address
    finally:
        _stop_cluster(marks)
        for folder in (head_dir, node_dir):
            shutil.rmtree(folder, ignore_errors=True)


TINY_DESIGN = """
[sweep]
name = "{name}"
design = "explicit"
vocab_size = 384
n_ctx = 32
seed = 0

[train]
val_tokens = 2048
batch_size = 8
export_hf = false
cache_dir = "{cache}"

[[runs]]
n_layer = 1
d_model = 32
tokens = {tokens}

[[runs]]
n_layer = 1
d_model = 64
tokens = {tokens}

[[runs]]
n_layer = 2
d_model = 32
tokens = {tokens}

[[runs]]
n_layer = 1
d_model = 32
tokens = {tokens}
seed = 1
"""


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> Path:
    """One tokenizer/shard cache for every tiny run of the session."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def tiny_design_file(tmp_path, data_cache):
    """Write a 4-run explicit design (tiny GPTs, ``tokens`` each) and return its path."""

    def write(name: str = "tiny", tokens: int = 20_000) -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(TINY_DESIGN.format(name=name, cache=data_cache, tokens=tokens))
        return path

    return write
