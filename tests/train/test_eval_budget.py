"""Validation sized to the run: how often the default evaluates, and what the summary
records of the time it spent (issue 15: a small run must not wait on validation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scalinglab.train import run_training
from scalinglab.train.config import TrainConfig
from scalinglab.train.defaults import (
    EVAL_COST,
    EVAL_SHARE,
    EVALS_PER_RUN,
    default_evaluations,
    resolve,
    total_steps,
)


def _evaluations(cfg: TrainConfig) -> int:
    """Evaluations the loop makes: every ``eval_every`` steps, plus the last step."""
    steps = total_steps(cfg)
    return steps // cfg.eval_every + (steps % cfg.eval_every != 0)


def test_the_issue_run_evaluates_once_at_the_end() -> None:
    cfg = resolve(TrainConfig(family="gpt", n_layer=1, d_model=64, tokens=200_000))
    assert cfg.val_tokens == 32_768  # the fixed set every run of a sweep is scored on
    assert _evaluations(cfg) == 1
    assert cfg.checkpoint_every == total_steps(cfg) // EVALS_PER_RUN  # resume unchanged


@pytest.mark.parametrize("tokens", [10**4, 2 * 10**5, 10**6, 3 * 10**6, 10**8])
def test_evaluation_cost_stays_within_its_share(tokens: int) -> None:
    cfg = resolve(TrainConfig(n_layer=2, d_model=64, tokens=tokens))
    count = _evaluations(cfg)
    assert 1 <= count <= EVALS_PER_RUN + 1
    if count > 1:  # one final evaluation is always made, whatever it costs
        assert count * EVAL_COST * cfg.val_tokens <= EVAL_SHARE * tokens * 1.2


def test_larger_runs_evaluate_more_often_up_to_the_cap() -> None:
    counts = [default_evaluations(t, 32_768) for t in (10**5, 10**6, 3 * 10**6, 10**9)]
    assert counts == sorted(counts)
    assert counts[0] == 1
    assert counts[-1] == EVALS_PER_RUN
    assert default_evaluations(10**6, 1024) == EVALS_PER_RUN  # a small set is cheap


def test_given_eval_every_is_kept() -> None:
    assert resolve(TrainConfig(tokens=200_000, eval_every=3)).eval_every == 3


def test_summary_records_evaluation_time_over_a_resume(tiny) -> None:
    stopped = run_training(tiny("r", stop_at_step=17, checkpoint_every=1000), progress=False)
    assert stopped.evaluations == 2  # steps 10 and 17
    assert stopped.eval_tokens == 1024  # val_tokens of the tiny configuration
    assert stopped.eval_seconds > 0
    assert stopped.train_seconds + stopped.eval_seconds <= stopped.wall_seconds
    done = run_training(tiny("r"), progress=False)
    assert done.evaluations == 5  # 10, 17, 20, 30, 40
    assert done.eval_seconds > stopped.eval_seconds
    assert done.train_seconds + done.eval_seconds <= done.wall_seconds
    stored = json.loads((Path(done.out_dir) / "summary.json").read_text())
    assert stored["eval_seconds"] == done.eval_seconds
    assert stored["evaluations"] == 5
