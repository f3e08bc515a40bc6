"""TrainConfig: TOML/dict loading, clear errors, and the scale-aware defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.train.config import TrainConfig
from scalinglab.train.defaults import (
    MAX_MICRO_TOKENS,
    MIN_STEPS,
    deepseek_batch_tokens,
    kaplan_lr,
    resolve,
    total_steps,
)


def test_toml_round_trip_and_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[train]\nfamily = 'bert'\nn_layer = 3\ntokens = 50000\nsave_at_steps = [5]\n")
    cfg = TrainConfig.from_toml(path)
    assert (cfg.family, cfg.n_layer, cfg.tokens, cfg.save_at_steps) == ("bert", 3, 50000, [5])
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ScalingLabError, match="n_layers"):
        TrainConfig.from_dict({"n_layers": 2})
    path.write_text("family = \n")
    with pytest.raises(ScalingLabError, match="invalid TOML"):
        TrainConfig.from_toml(path)


def test_defaults_follow_the_cited_fits() -> None:
    assert kaplan_lr(10**5) == pytest.approx(0.003239 - 0.0001395 * 11.5129, rel=1e-4)
    assert kaplan_lr(1) == 0.003  # clamped above
    assert kaplan_lr(10**30) == 1e-4  # clamped below
    assert kaplan_lr(10**6) > kaplan_lr(10**7)
    assert deepseek_batch_tokens(1e18) == pytest.approx(0.292 * 1e18**0.3271)
    cfg = resolve(TrainConfig(n_layer=2, d_model=64, n_ctx=64, tokens=1_000_000))
    assert total_steps(cfg) >= MIN_STEPS
    assert cfg.warmup_steps == round(0.05 * total_steps(cfg))
    assert cfg.min_lr_ratio == 0.1
    assert resolve(TrainConfig(schedule="wsd")).min_lr_ratio == 0.0
    big = resolve(TrainConfig(n_layer=2, d_model=64, n_ctx=64, tokens=10**9))
    assert big.batch_size > cfg.batch_size  # larger budgets take larger batches
    assert cfg.micro_batch_size == cfg.batch_size
    large = resolve(TrainConfig(n_layer=12, d_model=768, n_ctx=1024, tokens=2_500_000_000))
    assert large.micro_batch_size * 1024 <= MAX_MICRO_TOKENS
    assert large.batch_size % large.micro_batch_size == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schedule": "linear"}, "schedule"),
        ({"tokens": 0}, "tokens"),
        ({"batch_size": 6, "micro_batch_size": 4}, "multiple"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_bad_settings_are_user_errors(change: dict, message: str) -> None:
    with pytest.raises(ScalingLabError, match=message):
        resolve(TrainConfig(**change))
