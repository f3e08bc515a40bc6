"""The compute-optimal run over real shapes with exact FLOPs."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms import ChinchillaLaw
from scalinglab.models.counting import count_params, training_flops
from scalinglab.models.ladder import shape_for_params
from scalinglab.sweep.frontier import optimal_run

LAW = ChinchillaLaw(E=1.8, A=400.0, B=400.0, alpha=0.34, beta=0.28)
SHAPES = list(
    dict.fromkeys(shape_for_params(float(n), "gpt", 512, 64) for n in np.geomspace(1.3e4, 3e6, 58))
)


def test_optimal_run_spends_the_budget_and_beats_every_candidate():
    best = optimal_run(LAW, 1e13, SHAPES)
    assert training_flops(best.shape, best.tokens) <= 1e13
    for shape in SHAPES:
        tokens = int(1e13 // training_flops(shape, 1))
        loss = float(LAW.predict(count_params(shape).nonembed, tokens))
        assert best.predicted_loss <= loss + 1e-12


def test_token_cap_moves_the_choice_to_larger_models():
    free = optimal_run(LAW, 1e14, SHAPES)
    capped = optimal_run(LAW, 1e14, SHAPES, max_tokens=free.tokens / 2)
    assert capped.tokens <= free.tokens / 2
    assert capped.n_params_nonembed > free.n_params_nonembed
    with pytest.raises(ScalingLabError, match="every candidate"):
        optimal_run(LAW, 1e14, SHAPES, max_tokens=10)
