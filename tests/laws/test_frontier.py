"""The one frontier function: closed form at 6ND, brute force under other costs and caps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq, minimize_scalar

from scalinglab.laws.forms import ChinchillaLaw, KaplanC, KaplanN, KaplanND, PowerLawOffset
from scalinglab.laws.frontier import (
    TokenCost,
    frontier_band,
    frontier_loss,
    optimal_loss,
    token_cap,
)

LAW = ChinchillaLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)


def _reference(law, C: float, cost: TokenCost) -> float:
    """scipy's bounded minimum over ``ln N``, above the size where the cap binds (brentq)."""
    log_hi = np.log(1e18)
    log_lo = 0.0
    if cost.max_tokens is not None:
        needed = np.log(C / cost.max_tokens)
        if cost.log_flops_per_token(np.array(log_lo)) < needed:
            log_lo = brentq(lambda x: cost.log_flops_per_token(np.array(x)) - needed, 0.0, log_hi)

    def loss(log_n: float) -> float:
        tokens = C / np.exp(cost.log_flops_per_token(np.array(log_n)))
        return float(law.predict(N=np.exp(log_n), D=tokens))

    dense = np.linspace(log_lo, log_hi, 2001)
    best = dense[int(np.argmin([loss(x) for x in dense]))]
    step = dense[1] - dense[0]
    bounds = (max(log_lo, best - step), min(log_hi, best + step))
    found = minimize_scalar(loss, bounds=bounds, method="bounded", options={"xatol": 1e-12})
    return min(float(found.fun), loss(log_lo))


def test_six_nd_frontier_is_hoffmanns_closed_form() -> None:
    C = np.array([1e18, 1e20, 1e22, 1e25])
    N, D = LAW.compute_optimal(C)
    np.testing.assert_allclose(frontier_loss(LAW, C), LAW.predict(N, D), rtol=1e-12)


def test_laws_of_c_are_evaluated_directly_and_laws_of_one_size_have_none() -> None:
    C = np.array([1e20, 1e22])
    kaplan = KaplanC(Cc=1e8 * 8.64e19, alphaC=0.05)
    np.testing.assert_array_equal(frontier_loss(kaplan, C), kaplan.predict(C))
    offset = PowerLawOffset(E=1.5, A=3e3, alpha=0.15)
    np.testing.assert_array_equal(frontier_loss(offset, C), offset.predict(C))
    assert frontier_loss(KaplanN(Nc=8.8e13, alphaN=0.076), C) is None


def test_any_law_of_n_and_d_is_minimised_under_a_cost_and_cap() -> None:
    cost = TokenCost(np.log([1e5, 1e6, 1e7]), np.log([3e6, 1.2e7, 8e7]), max_tokens=3e9)
    kaplan = KaplanND(Nc=8.8e13, Dc=5.4e13, alphaN=0.076, alphaD=0.095)
    for law in (LAW, kaplan):
        for C in (1e15, 1e17, 1e19):
            expected = _reference(law, C, cost)
            assert float(frontier_loss(law, np.array([C]), cost)[0]) == pytest.approx(
                expected, rel=1e-9
            )


def test_cap_raises_the_frontier_where_it_binds() -> None:
    C = np.geomspace(1e19, 1e23, 5)
    free = frontier_loss(LAW, C)
    D = LAW.compute_optimal(C)[1]
    capped = frontier_loss(LAW, C, TokenCost.six_nd(max_tokens=float(D[2])))
    np.testing.assert_allclose(capped[:3], free[:3], rtol=1e-12)
    assert np.all(capped[3:] > free[3:])


def test_cost_from_runs_is_what_the_table_shows() -> None:
    N = np.array([1e6, 1e6, 4e6, 1.6e7])
    D = np.array([1e8, 2e8, 1e8, 1e8])
    per_token = np.array([8e6, 8e6, 3e7, 1e8])
    runs = pd.DataFrame({"N": N, "D": D, "C": per_token * D, "epochs": D / 5e8})
    cost = TokenCost.from_runs(runs)
    np.testing.assert_allclose(np.exp(cost.log_flops_per_token(np.log(N))), per_token)
    # Between sizes, linear in log-log; beyond them, proportional to N.
    between = np.exp(cost.log_flops_per_token(np.log(2e6)))
    assert between == pytest.approx(8e6 * (3e7 / 8e6) ** 0.5)
    assert np.exp(cost.log_flops_per_token(np.log(6.4e7))) == pytest.approx(4e8)
    assert np.exp(cost.log_flops_per_token(np.log(1e5))) == pytest.approx(8e5)
    assert cost.max_tokens == pytest.approx(5e8)
    six = TokenCost.from_runs(pd.DataFrame({"N": N, "D": D, "C": 6 * N * D}))
    sizes = np.log([10.0, 1e9, 1e15])
    np.testing.assert_allclose(six.log_flops_per_token(sizes), np.log(6.0) + sizes, rtol=1e-12)
    assert six.max_tokens is None


def test_token_cap_is_one_epoch_of_the_corpus() -> None:
    runs = {"D": np.array([1e6, 3e6, 5e5]), "epochs": np.array([0.5, 1.5, 0.25])}
    assert token_cap(runs) == pytest.approx(2e6)
    assert token_cap({"D": np.array([1e6])}) is None


def test_band_brackets_the_curve_and_takes_samples() -> None:
    rng = np.random.default_rng(1)
    samples = {k: v * np.exp(rng.normal(0.0, 0.02, 400)) for k, v in LAW.params.items()}
    grid = np.geomspace(1e19, 1e23, 20)
    low, high = frontier_band(LAW, samples, grid, 0.9)
    center = frontier_loss(LAW, grid)
    assert np.all(low < center)
    assert np.all(center < high)
    assert frontier_band(LAW, None, grid) is None


def test_optimal_loss_broadcasts_samples_against_budgets() -> None:
    alphas = np.array([[0.30], [0.35]])
    law = ChinchillaLaw(E=1.8, A=480.0, B=2000.0, alpha=alphas, beta=0.36)  # type: ignore[arg-type]
    C = np.array([1e20, 1e22, 1e24])
    curves = optimal_loss(lambda N, D: law.predict(N, D), C, TokenCost.six_nd())
    assert curves.shape == (2, 3)
    for row, alpha in enumerate(alphas[:, 0]):
        single = ChinchillaLaw(E=1.8, A=480.0, B=2000.0, alpha=float(alpha), beta=0.36)
        np.testing.assert_allclose(curves[row], frontier_loss(single, C), rtol=1e-12)
