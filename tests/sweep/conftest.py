"""Fixtures for sweep tests: a real Ray cluster on 127.0.0.1 (head + one worker node),
and a design of tiny real training runs (seconds each)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

RAY = str(Path(sys.executable).parent / "ray")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster():
    """``HOST:PORT`` of a two-node Ray cluster (1 CPU each) started for this session and
    stopped with ``ray stop --force`` at its end. Its workers can import the helper
    modules of this folder (``dying_worker``): it is on their ``PYTHONPATH``."""
    pytest.importorskip("ray")
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": path}
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--object-store-memory", "100000000", "--disable-usage-stats"]
    try:
        subprocess.run(
            [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
             "--include-dashboard", "false", *common],
            check=True, env=env, capture_output=True, timeout=120,
        )  # fmt: skip
        subprocess.run(
            [RAY, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common],
            check=True, env=env, capture_output=True, timeout=120,
        )  # fmt: skip
        yield address
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


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
