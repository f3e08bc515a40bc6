"""The compute-optimal run over real shapes with exact FLOPs."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms import ChinchillaLaw
from scalinglab.models.counting import count_params, training_flops
from scalinglab.sweep.frontier import candidate_shapes, frontier, optimal_run, token_cap

LAW = ChinchillaLaw(E=1.8, A=400.0, B=400.0, alpha=0.34, beta=0.28)
SHAPES = candidate_shapes(1.3e4, 3e6, vocab_size=512, n_ctx=64)


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


def test_frontier_matches_optimal_run_and_takes_samples():
    grid = np.array([1e12, 1e13])
    curve = frontier(LAW.params, grid, SHAPES)
    assert curve[1] == pytest.approx(optimal_run(LAW, 1e13, SHAPES).predicted_loss)
    assert curve[1] < curve[0]
    samples = {k: np.array([v, v * 1.01]) for k, v in LAW.params.items()}
    assert frontier(samples, grid, SHAPES).shape == (2, 2)


def test_capped_frontier_agrees_with_the_capped_optimal_run():
    cap = optimal_run(LAW, 1e14, SHAPES).tokens / 2
    grid = np.array([1e14])
    curve = frontier(LAW.params, grid, SHAPES, cap)
    assert curve[0] == pytest.approx(optimal_run(LAW, 1e14, SHAPES, cap).predicted_loss)
    assert curve[0] > frontier(LAW.params, grid, SHAPES)[0]
    assert np.isnan(frontier(LAW.params, grid, SHAPES, 10.0)[0])


def test_token_cap_is_one_epoch_of_the_corpus():
    runs = {"D": np.array([1e6, 3e6, 5e5]), "epochs": np.array([0.5, 1.5, 0.25])}
    assert token_cap(runs) == pytest.approx(2e6)
    assert token_cap({"D": np.array([1e6])}) is None
