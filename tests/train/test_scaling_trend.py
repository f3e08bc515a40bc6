"""A small version of benchmarks/ladder_check.py: at equal tokens, validation loss falls
with N (the benchmark runs the 1e5-3e6 ladder on the whole corpus)."""

from __future__ import annotations

import pytest

from scalinglab.train import run_training


@pytest.mark.slow
def test_validation_loss_falls_with_model_size(tiny) -> None:
    losses = []
    for n_layer, d_model in [(1, 32), (2, 64), (2, 128)]:
        cfg = tiny(f"{n_layer}x{d_model}", n_layer=n_layer, d_model=d_model,
                   tokens=8 * 32 * 80, eval_every=1000, val_tokens=2048)  # fmt: skip
        losses.append(run_training(cfg, progress=False).final_val_loss)
    assert losses[0] > losses[1] > losses[2]
