"""One run end to end: summary, metrics, determinism, exact resume, divergence."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.models.counting import count_params, flops_per_token
from scalinglab.train import RunSummary, run_training


def test_run_writes_summary_and_metrics(tiny) -> None:
    cfg = tiny()
    seen: list[dict] = []
    summary = run_training(cfg, progress=False, on_eval=seen.append)
    assert summary.status == "completed"
    assert summary.steps == 40
    assert summary.tokens == 40 * 8 * 32
    shape = cfg.shape()
    assert summary.n_params == count_params(shape).total
    assert summary.flops == pytest.approx(flops_per_token(shape).exact * summary.tokens)
    assert summary.flops_6nd == pytest.approx(6 * summary.n_params * summary.tokens)
    assert summary.final_val_loss < math.log(512)  # learned something beyond uniform
    lines = [json.loads(x) for x in (Path(cfg.out_dir) / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [10, 20, 30, 40] == [r["step"] for r in seen]
    assert lines[-1]["val_loss"] == summary.final_val_loss
    assert lines[0]["val_loss"] > lines[-1]["val_loss"]
    for key in ("tokens", "flops", "flops_6nd", "train_loss", "lr", "wall_seconds", "mfu"):
        assert key in lines[0]
    stored = RunSummary.read(Path(cfg.out_dir) / "summary.json")
    assert stored.to_dict() == summary.to_dict()
    assert {"final_val_loss", "unique_tokens", "epochs", "shape", "seed"} <= set(stored.to_dict())


def test_same_seed_same_losses_and_rerun_is_idempotent(tiny) -> None:
    first = run_training(tiny("a"), progress=False)
    second = run_training(tiny("b"), progress=False)
    assert first.final_val_loss == second.final_val_loss
    other = run_training(tiny("c", seed=1), progress=False)
    assert other.final_val_loss != first.final_val_loss
    again = run_training(tiny("a"), progress=False)
    assert again.wall_seconds == first.wall_seconds  # returned from summary.json, not retrained


def test_stop_and_resume_is_exact(tiny) -> None:
    straight = run_training(tiny("straight"), progress=False)
    stopped = run_training(tiny("resumed", stop_at_step=17, checkpoint_every=1000), progress=False)
    assert stopped.status == "stopped"
    assert stopped.steps == 17
    resumed = run_training(tiny("resumed"), progress=False)
    assert resumed.status == "completed"
    assert resumed.final_val_loss == pytest.approx(straight.final_val_loss, rel=1e-6)
    steps = [json.loads(x)["step"] for x in (Path(resumed.out_dir) / "metrics.jsonl").open()]
    assert steps == [10, 17, 20, 30, 40]  # the stop evaluates too


def test_resume_with_other_shape_is_refused(tiny) -> None:
    run_training(tiny("x", stop_at_step=5), progress=False)
    with pytest.raises(ScalingLabError, match="d_model"):
        run_training(tiny("x", d_model=64), progress=False)


def test_absurd_learning_rate_diverges(tiny) -> None:
    summary = run_training(tiny("hot", lr=50.0, grad_clip=0.0, tokens=8 * 32 * 200), progress=False)
    assert summary.status == "diverged"
    assert summary.steps < 200
    assert "loss" in summary.reason
    assert json.loads((Path(summary.out_dir) / "summary.json").read_text())["status"] == "diverged"
    again = run_training(tiny("hot", lr=50.0, grad_clip=0.0, tokens=8 * 32 * 200), progress=False)
    assert again.to_dict() == summary.to_dict()  # not retrained


def test_data_constrained_run_records_epochs(tiny) -> None:
    summary = run_training(tiny("dc", unique_tokens=2048), progress=False)
    assert summary.unique_tokens <= 2048
    assert summary.epochs == pytest.approx(summary.tokens / summary.unique_tokens)
    assert summary.epochs > 4


def test_gradient_accumulation_matches_one_big_batch(tiny) -> None:
    whole = run_training(tiny("whole", tokens=8 * 32 * 10, bf16=False), progress=False)
    parts = run_training(
        tiny("parts", tokens=8 * 32 * 10, bf16=False, micro_batch_size=2), progress=False
    )
    assert parts.final_val_loss == pytest.approx(whole.final_val_loss, rel=1e-5)


def test_bert_with_next_sentence_prediction_trains(tiny) -> None:
    summary = run_training(tiny("nsp", family="bert", nsp=True, tokens=8 * 32 * 10), progress=False)
    assert summary.status == "completed"
    assert summary.n_params_nonembed == count_params(tiny(family="bert", nsp=True).shape()).nonembed
    assert 0 < summary.final_val_loss < math.log(512) + 1


def test_an_error_mid_run_is_recorded_as_failed_and_the_run_resumes(tiny) -> None:
    def explode(record: dict) -> None:
        if record["step"] == 20:
            raise RuntimeError("disk full")

    cfg = tiny("boom")
    with pytest.raises(RuntimeError, match="disk full"):
        run_training(cfg, progress=False, on_eval=explode)
    stored = json.loads((Path(cfg.out_dir) / "summary.json").read_text())
    assert stored["status"] == "failed"
    assert "disk full" in stored["reason"]
    assert run_training(cfg, progress=False).status == "completed"
