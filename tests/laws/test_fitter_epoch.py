"""Acceptance: the Chinchilla fit of the Epoch data (global Huber minimum, Epoch's values).

The expected values do not come from the fitter: the objective is recomputed here from
its definition (Besiroglu et al. 2024: summed Huber, delta 1e-3, of natural-log
residuals of L = E + A/N^alpha + B/D^beta, written as a log-sum-exp), scipy's optimisers
started from the fit must find nothing lower, and scipy's Nelder-Mead started from
Epoch's published parameters (E 1.8172, A 482.01, B 2085.43, alpha 0.3478, beta 0.3658)
must land in the same minimum.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import OptimizeResult, minimize
from scipy.special import logsumexp

from scalinglab.laws import ChinchillaLaw, fit_law

EPOCH_PUBLISHED = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}


Objective = Callable[[np.ndarray], float]


def epoch_objective(table: pd.DataFrame) -> Objective:
    """Epoch's objective of theta = (log A, log B, log E, alpha, beta) on ``table``."""
    log_n, log_d = np.log(table["N"].to_numpy(float)), np.log(table["D"].to_numpy(float))
    log_loss = np.log(table["loss"].to_numpy(float))

    def objective(theta: np.ndarray) -> float:
        a, b, e, alpha, beta = theta
        terms = [a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)]
        r = np.abs(logsumexp(terms, axis=0) - log_loss)
        return float(np.sum(np.where(r <= 1e-3, 0.5 * r**2, 1e-3 * (r - 0.5e-3))))

    return objective


def theta_of(params: dict[str, float]) -> np.ndarray:
    names = ("A", "B", "E")
    return np.array([*(np.log(params[n]) for n in names), params["alpha"], params["beta"]])


@pytest.fixture(scope="module")
def reference(epoch_table) -> tuple[Objective, OptimizeResult]:
    """The objective, and scipy's Nelder-Mead minimum started from Epoch's parameters."""
    objective = epoch_objective(epoch_table)
    options = {"maxiter": 20_000, "xatol": 1e-10, "fatol": 1e-15}
    found = minimize(objective, theta_of(EPOCH_PUBLISHED), method="Nelder-Mead", options=options)
    return objective, found


@pytest.fixture(scope="module")
def huber_fit(epoch_table):
    return fit_law("chinchilla", epoch_table)


def test_epoch_points(epoch_table):
    assert len(epoch_table) == 240


def test_reaches_global_huber_minimum(huber_fit, reference):
    objective, from_epoch = reference
    theta = theta_of(huber_fit.params)
    assert objective(theta) == pytest.approx(huber_fit.value, rel=1e-12)
    assert huber_fit.value <= objective(theta_of(EPOCH_PUBLISHED))
    assert huber_fit.value <= from_epoch.fun + 1e-15  # no worse than scipy from Epoch's start
    for method in ("L-BFGS-B", "Nelder-Mead", "Powell"):
        polished = minimize(objective, theta, method=method)
        assert polished.fun >= huber_fit.value - 1e-15, method  # nothing lower nearby
    fitted = theta_of(huber_fit.params)
    np.testing.assert_allclose(fitted, from_epoch.x, rtol=1e-4)  # the same minimum
    for name in ("E", "alpha", "beta"):  # Epoch's published values; A, B lie on a flat ridge
        assert huber_fit.params[name] == pytest.approx(EPOCH_PUBLISHED[name], rel=0.005), name
    assert huber_fit.converged
    assert huber_fit.n_starts == 4500
    assert huber_fit.n_starts_in_best_basin >= 100
    assert isinstance(huber_fit.law, ChinchillaLaw)


def test_residual_statistics(huber_fit):
    stats = huber_fit.residuals
    assert stats.n == 240
    assert 0.005 < stats.rmse < 0.01
    assert stats.max_abs >= stats.rmse
    assert abs(stats.mean) < stats.rmse


def test_warnings_name_the_flat_a_b_direction_and_no_bound(huber_fit):
    assert not any("bound" in w for w in huber_fit.warnings)
    flat = [w for w in huber_fit.warnings if "flat direction" in w]
    assert len(flat) == 1
    assert "A" in flat[0]
    assert "B" in flat[0]


def test_huber_likelihood_reproduces_epoch(epoch_table):
    fit = fit_law("chinchilla", epoch_table, objective="huber_likelihood", starts="chinchilla")
    published = {"E": 1.8169, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3659}
    for name, value in published.items():
        assert fit.params[name] == pytest.approx(value, rel=0.005), name
    assert fit.scale is not None
    assert 0 < fit.scale < 1e-3
    assert fit.n_starts == 1
