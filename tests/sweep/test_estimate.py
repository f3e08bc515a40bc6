"""The design estimate: runs shared out over workers, and as many evaluations as a real
run makes (issue 15: the estimate must count what a sweep waits for, not only steps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scalinglab.models.shape import ShapeSpec
from scalinglab.sweep.design import PlannedRun
from scalinglab.sweep.estimate import evaluations, makespan

pytest.importorskip("torch")


def test_makespan_shares_runs_out_in_order() -> None:
    assert makespan([3.0, 1.0, 1.0, 1.0], 2) == 3.0  # one worker takes 3, the other 1+1+1
    assert makespan([1.0, 1.0, 3.0], 2) == 4.0  # the long run starts last
    assert makespan([2.0, 2.0, 2.0], 1) == 6.0
    assert makespan([2.0], 8) == 2.0
    assert makespan([], 2) == 0.0


def _run(tmp_path: Path, tokens: int, **train: object) -> PlannedRun:
    from scalinglab.data.corpus import load_corpus

    corpus = tmp_path / "kjv150.jsonl"
    if not corpus.exists():
        docs = load_corpus("kjv").documents[:150]
        corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    shape = ShapeSpec.create("gpt", n_layer=1, d_model=32, vocab_size=384, n_ctx=32)
    options = {"corpus": str(corpus), "cache_dir": str(tmp_path / "cache"), "export_hf": False,
               "threads": 1, "peak_flops": 1e11, "device": "cpu", **train}  # fmt: skip
    from scalinglab.models.counting import training_flops

    return PlannedRun("r", shape, tokens, training_flops(shape, tokens), None, "cosine", 0,
                      train=options)  # fmt: skip


@pytest.mark.parametrize(
    "train", [{"val_tokens": 1024, "batch_size": 8}, {"val_tokens": 512, "eval_every": 7}]
)
def test_evaluations_match_a_real_run(tmp_path: Path, train: dict) -> None:
    from scalinglab.train import TrainConfig, run_training

    run = _run(tmp_path, 8 * 32 * 40, **train)
    config = TrainConfig.from_dict({**run.config, "out_dir": str(tmp_path / "out")})
    summary = run_training(config, progress=False)
    lines = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    assert evaluations(run) == len(lines) == summary.evaluations
