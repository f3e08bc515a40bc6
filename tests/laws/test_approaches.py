"""Approaches 1, 2, 3 and Kaplan on synthetic runs from a known law, and on the Epoch data."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.laws import ChinchillaLaw, KaplanND, approach1, approach2, approach3, kaplan
from scalinglab.laws.approaches import approach3_from_law, group_budgets, kaplan_allocation
from scalinglab.laws.synthetic import isoflop_design

LAW = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
BUDGETS = np.geomspace(1e18, 1e21, 7)


def test_approach2_noiseless_symmetric_grid_recovers_exponent():
    runs = isoflop_design(LAW, BUDGETS, sizes_per_budget=9, span=4.0)
    result = approach2(runs)
    # On a symmetric noiseless grid the parabola's bias is the same at every budget, so
    # the exponents are exact (measured 5e-15) while N* and D* carry that bias (1.4%).
    assert result.a == pytest.approx(LAW.a, abs=1e-9)
    assert result.b == pytest.approx(LAW.b, abs=1e-9)
    n_true, d_true = LAW.compute_optimal(1e20)
    assert result.n_opt(1e20) == pytest.approx(n_true, rel=0.02)
    assert result.d_opt(1e20) == pytest.approx(d_true, rel=0.02)
    assert len([d for d in result.details if "N_opt" in d]) == len(BUDGETS)
    assert all(len(d["parabola"]) == 3 for d in result.details)


def test_approach2_skips_budget_whose_minimum_lies_outside_the_grid():
    runs = isoflop_design(LAW, BUDGETS, sizes_per_budget=5, span=2.0, offset=[1, 1, 1, 1, 1, 1, 8])
    result = approach2(runs)
    assert any("outside" in d.get("skipped", "") for d in result.details)
    assert result.a == pytest.approx(LAW.a, abs=1e-9)  # measured 1e-14


def test_approach2_needs_two_budgets_with_minima():
    runs = isoflop_design(LAW, [1e19], sizes_per_budget=5)
    with pytest.raises(ScalingLabError, match="at least two compute budgets"):
        approach2(runs)


def test_group_budgets_tolerates_small_differences_in_c():
    C = np.array([1e19, 1.01e19, 0.99e19, 1e20, 1.02e20])
    assert group_budgets(C).tolist() == [0, 0, 0, 1, 1]


def test_approach1_on_envelope_of_dense_runs():
    sizes = np.geomspace(1e7, 1e10, 25)
    steps = np.geomspace(1e8, 1e12, 60)
    N, D = (a.ravel() for a in np.meshgrid(sizes, steps))
    runs = {"N": N, "D": D, "C": 6 * N * D, "loss": LAW.predict(N, D)}
    result = approach1(runs)
    assert result.a == pytest.approx(LAW.a, abs=1e-3)  # measured 2.2e-4 (grid resolution)
    assert result.a + result.b == pytest.approx(1.0, abs=1e-9)
    assert result.tokens_per_param(1e20) == pytest.approx(result.d_opt(1e20) / result.n_opt(1e20))


def test_approach3_exponents_from_law():
    result = approach3_from_law(LAW)
    assert result.a == pytest.approx(0.28 / 0.62)
    n, d = LAW.compute_optimal(1e22)
    assert result.n_opt(1e22) == pytest.approx(n)
    assert result.d_opt(1e22) == pytest.approx(d)
    assert 6 * result.n_opt(1e22) * result.d_opt(1e22) == pytest.approx(1e22)


def test_approach3_fit_on_noiseless_isoflop_runs():
    runs = isoflop_design(LAW, BUDGETS, sizes_per_budget=9, span=8.0)
    result = approach3(runs)
    assert result.fit is not None
    assert result.a == pytest.approx(LAW.a, abs=1e-6)  # measured 2e-16
    assert result.params["alpha"] == pytest.approx(0.34, abs=1e-6)


def test_kaplan_allocation_minimises_loss_at_fixed_compute():
    law = KaplanND(Nc=8.8e13, Dc=5.4e13, alphaN=0.076, alphaD=0.095)
    a, b, n_coef, _ = kaplan_allocation(law)
    assert a + b == pytest.approx(1.0)
    C = 1e21
    n_star = n_coef * C**a
    sizes = n_star * np.geomspace(0.5, 2.0, 41)  # n_star in the middle, neighbours 3.5% off
    losses = law.predict(sizes, C / (6 * sizes))
    assert np.argmin(losses) == 20


def test_kaplan_method_fits_joint_and_compute_laws(epoch_table):
    result = kaplan(epoch_table)
    assert set(result.fits) == {"kaplan_nd", "kaplan_c"}
    assert {"Nc", "Dc", "alphaN", "alphaD", "Cc", "alphaC"} <= set(result.params)
    assert 0 < result.a < 1
    assert result.fits["kaplan_c"].params["alphaC"] > 0
