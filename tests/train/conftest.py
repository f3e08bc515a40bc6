"""Fixtures for training tests: a small real corpus (the first KJV chapters), a shared
cache, and tiny run configurations that train in a second or two on one thread."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from scalinglab.data.corpus import load_corpus
from scalinglab.train.config import TrainConfig


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The first 150 chapters of the King James Bible as a JSONL file (~0.6 MB)."""
    path = tmp_path_factory.mktemp("corpus") / "kjv150.jsonl"
    docs = load_corpus("kjv").documents[:150]
    path.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    return str(path)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def tiny(small_corpus: str, cache_dir: str, tmp_path: Path) -> Callable[..., TrainConfig]:
    """A factory of tiny gpt configurations (1 layer, width 32, context 32, vocab 512)."""

    def make(name: str = "run", **changes: object) -> TrainConfig:
        base = TrainConfig(
            out_dir=str(tmp_path / name),
            family="gpt",
            n_layer=1,
            d_model=32,
            n_head=2,
            n_ctx=32,
            vocab_size=512,
            tokens=8 * 32 * 40,
            batch_size=8,
            corpus=small_corpus,
            val_tokens=1024,
            eval_every=10,
            threads=1,
            peak_flops=1e11,
            cache_dir=cache_dir,
            export_hf=False,
            device="cpu",
        )
        return base.replace(**changes)

    return make
