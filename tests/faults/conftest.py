"""Fixtures of the fault-injection suite: real ``scalinglab`` processes on tiny runs (a
small real corpus, one shared tokenizer/shard cache), killed, raced and starved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from scalinglab.data.corpus import load_corpus

SWEEP = """
[sweep]
name = "{name}"
design = "explicit"
vocab_size = 384
n_ctx = 32
seed = 0

[train]
corpus = "{corpus}"
val_tokens = 1024
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


@pytest.fixture
def tiny_train(corpus: str) -> list[str]:
    """``scalinglab train`` options of a tiny run (1 layer, width 32, context 32)."""
    return ["--n-layer", "1", "--d-model", "32", "--n-head", "2", "--ctx", "32",
            "--vocab", "384", "--batch-size", "8", "--device", "cpu",
            "--peak-flops", "1e11", "--quiet", "--corpus", corpus]  # fmt: skip


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The first 100 chapters of the King James Bible as a JSONL file."""
    path = tmp_path_factory.mktemp("corpus") / "kjv100.jsonl"
    documents = load_corpus("kjv").documents[:100]
    path.write_text("".join(json.dumps({"text": d}) + "\n" for d in documents))
    return str(path)


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def env(cache: str) -> dict[str, str]:
    """The environment of a ``scalinglab`` child: this checkout first, one thread."""
    source = str(Path(__file__).parents[2] / "src")
    path = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "SCALINGLAB_CACHE": cache,
            "OMP_NUM_THREADS": "1"}  # fmt: skip


@pytest.fixture
def cli(env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``scalinglab ARGS`` in a child process to its end (timeout 300 s)."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "scalinglab", *args], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    return run


@pytest.fixture
def sweep_file(tmp_path: Path, corpus: str, cache: str) -> Callable[..., Path]:
    """Write the 4-run tiny design named ``name`` (``tokens`` each); its path."""

    def write(name: str = "faults", tokens: int = 20_000) -> Path:
        path = tmp_path / "design.toml"
        path.write_text(SWEEP.format(name=name, corpus=corpus, cache=cache, tokens=tokens))
        return path

    return write
