"""Allocations against the papers' figures, and their invariants (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms import ChinchillaLaw, KaplanND
from scalinglab.plan.allocation import (
    compute_for_loss,
    compute_optimal,
    data_constrained,
    inference_aware,
    optimal_compute_for_n,
    tokens_for_loss,
)
from scalinglab.plan.loss import predict_loss
from scalinglab.plan.presets import PRESETS, get_preset

GOPHER_C = 5.76e23  # Gopher's training compute, the budget Hoffmann et al. 2022 discuss


def test_epoch2024_at_gopher_compute_gives_72b_and_18_tokens_per_param():
    # Besiroglu et al. 2024 report, with C = 6ND, a compute-optimal 72B model trained on
    # about 18 tokens per parameter at Gopher's 5.76e23 FLOPs. By their constants:
    # G = (0.3478*482.01 / (0.3658*2085.43))^(1/0.7136) = 0.1196, a = 0.3658/0.7136 = 0.5126,
    # N* = 0.1196 * (9.6e22)^0.5126 = 7.22e10, D* = 9.6e22 / N* = 1.33e12 (18.4 per param).
    allocation = compute_optimal(get_preset("epoch2024").law, GOPHER_C)
    assert allocation.n == pytest.approx(72e9, rel=0.05)
    assert allocation.tokens_per_param == pytest.approx(18, abs=1.0)
    assert 6 * allocation.n * allocation.d == pytest.approx(GOPHER_C, rel=1e-12)


def test_chinchilla_approach3_constants_imply_32b_at_gopher_compute():
    # Derivation from the printed approach-3 constants (Hoffmann et al. 2022, eq. 10:
    # E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28). Minimising A/N^a + B/D^b with
    # D = C/(6N) gives (their eq. 4) N* = G (C/6)^(beta/(alpha+beta)) with
    # G = (alpha A / (beta B))^(1/(alpha+beta)):
    #   G = (0.34*406.4 / (0.28*410.7))^(1/0.62) = 1.2016^1.6129 = 1.345
    #   N* = 1.345 * (9.6e22)^0.4516 = 3.22e10  (about 32B; D* = 2.98e12, 93 tokens/param).
    # The paper reports about 40B for approach 3 at this budget; the rounded constants it
    # prints imply 32B, which is what a planner using them must give.
    alpha, beta, A, B = 0.34, 0.28, 406.4, 410.7
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    expected = G * (GOPHER_C / 6) ** (beta / (alpha + beta))
    assert expected == pytest.approx(3.22e10, rel=0.01)
    allocation = compute_optimal(get_preset("chinchilla").law, GOPHER_C)
    assert allocation.n == pytest.approx(expected, rel=1e-9)
    # and the closed form is the true minimum: a dense grid along C = 6ND agrees
    law = get_preset("chinchilla").law
    grid = np.geomspace(1e9, 1e12, 20001)
    losses = law.predict(grid, GOPHER_C / (6 * grid))
    assert grid[np.argmin(losses)] == pytest.approx(expected, rel=1e-3)


def test_numeric_search_matches_closed_form():
    # KaplanND takes the numeric path; rewriting a Chinchilla law is not possible, so
    # check the numeric optimum against a brute-force grid instead.
    law = get_preset("kaplan2020").law
    C = 1e22
    allocation = compute_optimal(law, C)
    grid = np.geomspace(1e6, 1e13, 40001)
    losses = law.predict(grid, C / (6 * grid))
    assert allocation.n == pytest.approx(grid[np.argmin(losses)], rel=2e-3)


def test_every_preset_cites_its_source():
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert "et al." in preset.citation
        assert any(year in preset.citation for year in ("2020", "2022", "2023", "2024"))


def test_unknown_preset_lists_known():
    with pytest.raises(ScalingLabError, match="chinchilla, epoch2024, kaplan2020"):
        get_preset("gpt5")


laws = st.sampled_from([PRESETS[name].law for name in ("chinchilla", "epoch2024", "kaplan2020")])
budgets = st.floats(min_value=1e18, max_value=1e27)


@settings(max_examples=40, deadline=None)
@given(law=laws, C=budgets)
def test_allocation_spends_exactly_the_budget(law, C):
    allocation = compute_optimal(law, C)
    assert 6 * allocation.n * allocation.d == pytest.approx(C, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(law=laws, C=budgets, factor=st.floats(min_value=1.01, max_value=100))
def test_loss_falls_with_compute(law, C, factor):
    assert compute_optimal(law, C * factor).loss < compute_optimal(law, C).loss


@settings(max_examples=25, deadline=None)
@given(law=laws, C=budgets, shift=st.sampled_from([0.5, 0.8, 1.25, 2.0]))
def test_optimum_beats_other_splits_of_the_same_compute(law, C, shift):
    best = compute_optimal(law, C)
    n = best.n * shift
    other = float(law.predict(n, C / (6 * n)))
    assert best.loss <= other + 1e-12


@settings(max_examples=25, deadline=None)
@given(C=budgets)
def test_target_loss_round_trip(C):
    law = PRESETS["epoch2024"].law
    target = compute_optimal(law, C).loss
    assert compute_for_loss(law, target).flops == pytest.approx(C, rel=1e-6)


def test_unreachable_target_loss_names_the_floor():
    with pytest.raises(ScalingLabError, match=r"1\.817"):
        compute_for_loss(PRESETS["epoch2024"].law, 1.5)


@settings(max_examples=25, deadline=None)
@given(C=budgets, inference=st.floats(min_value=1e9, max_value=1e15))
def test_inference_aware_is_smaller_same_loss_and_cheaper_over_lifetime(C, inference):
    # Sardana et al. 2023: with inference demand, train a smaller model longer.
    law = PRESETS["chinchilla"].law
    optimum = compute_optimal(law, C)
    aware = inference_aware(law, C, inference)
    assert aware.n <= optimum.n * (1 + 1e-6)
    assert aware.loss == pytest.approx(optimum.loss, abs=1e-9)
    lifetime_opt = optimum.flops + 2 * optimum.n * inference
    assert aware.flops + aware.inference_flops <= lifetime_opt * (1 + 1e-9)


def test_inference_aware_at_sardana_scale():
    # A Chinchilla-70B-quality model (its compute-optimal loss at C = 5.76e23) served for
    # 1e13 tokens: the lifetime optimum is well below N* and trains on more tokens each.
    law = PRESETS["chinchilla"].law
    optimum = compute_optimal(law, GOPHER_C)
    aware = inference_aware(law, GOPHER_C, 1e13)
    assert aware.n < 0.8 * optimum.n
    assert aware.tokens_per_param > optimum.tokens_per_param
    assert tokens_for_loss(law, aware.n, optimum.loss) == pytest.approx(aware.d, rel=1e-9)


def test_data_constrained_with_plenty_of_data_is_compute_optimal():
    law = PRESETS["epoch2024"].law
    optimum = compute_optimal(law, GOPHER_C)
    plenty = data_constrained(law, GOPHER_C, unique_tokens=1e15)
    assert plenty.n == pytest.approx(optimum.n, rel=1e-4)
    assert plenty.epochs < 1


def test_data_constrained_scarce_data_repeats_and_shrinks_the_model():
    # Muennighoff et al. 2023: with few unique tokens the best use of compute repeats
    # them for several epochs, and the loss is worse than with unlimited data.
    law = PRESETS["muennighoff2023"].law
    optimum = compute_optimal(law, GOPHER_C)
    scarce = data_constrained(law, GOPHER_C, unique_tokens=1e11)
    assert scarce.epochs > 4
    assert scarce.loss > optimum.loss
    assert 6 * scarce.n * scarce.d == pytest.approx(GOPHER_C)


def test_kaplan_law_has_no_data_constrained_version():
    with pytest.raises(ScalingLabError, match="Chinchilla-form"):
        data_constrained(KaplanND(Nc=6.4e13, Dc=1.8e13, alphaN=0.076, alphaD=0.103), 1e21, 1e9)


@pytest.mark.parametrize("n", [1e8, 7e9, 7e10])
def test_optimal_compute_for_n_inverts_compute_optimal(n):
    for law in (PRESETS["chinchilla"].law, PRESETS["kaplan2020"].law):
        assert optimal_compute_for_n(law, n).n == pytest.approx(n, rel=1e-6)


def test_bad_budget_is_a_user_error():
    with pytest.raises(ScalingLabError, match="positive"):
        compute_optimal(ChinchillaLaw(1.69, 406.4, 410.7, 0.34, 0.28), -1.0)
    with pytest.raises(ScalingLabError, match="positive"):
        compute_optimal(ChinchillaLaw(1.69, 406.4, 410.7, 0.34, 0.28), math.inf)


def test_inference_aware_on_the_numeric_path():
    # Kaplan's L(N, D) has no closed-form iso-loss curve here: D(N) comes from bisection.
    law = PRESETS["kaplan2020"].law
    optimum = compute_optimal(law, 1e22)
    aware = inference_aware(law, 1e22, 1e12)
    assert aware.n < optimum.n
    assert aware.loss == pytest.approx(optimum.loss, abs=1e-9)
    lifetime = aware.flops + aware.inference_flops
    assert lifetime < optimum.flops + 2 * optimum.n * 1e12


def test_muennighoff_preset_reproduces_the_authors_figure_1_example():
    # github.com/huggingface/datablations README, "Parametric Fit": with 25B unique tokens,
    # 6.34B parameters on 242B tokens reach 2.2256440889984477 and 8.67B parameters on
    # 178B tokens 2.2269634075087867 (the models of the paper's Figure 1, right): the
    # smaller model trained for more epochs is better.
    law = get_preset("muennighoff2023").law
    smaller = float(predict_loss(law, 6.34e9, 242e9, 25e9))
    larger = float(predict_loss(law, 8.67e9, 178e9, 25e9))
    assert smaller == pytest.approx(2.2256440889984477, rel=1e-9)
    assert larger == pytest.approx(2.2269634075087867, rel=1e-9)
    assert smaller < larger
