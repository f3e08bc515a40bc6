"""Form selection: rolling validation by size, AIC and BIC, on laws with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.laws import ChinchillaLaw, KaplanND, fit_law
from scalinglab.laws.crossval import information_criteria, rolling_folds, select_form
from scalinglab.laws.synthetic import size_token_grid

SIZES = np.geomspace(1e7, 3e9, 9)
RATIOS = (5.0, 10.0, 20.0, 40.0, 80.0)
CHINCHILLA = ChinchillaLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
KAPLAN = KaplanND(Nc=6.4e13, Dc=1.8e13, alphaN=0.076, alphaD=0.103)


def test_information_criteria_by_hand():
    runs = size_token_grid(CHINCHILLA, SIZES, RATIOS, noise=0.01, seed=0)
    fit = fit_law("chinchilla", runs)
    residuals = np.log(fit.predict(N=runs["N"], D=runs["D"]) / runs["loss"])
    n = len(residuals)
    rss = float(np.sum(residuals**2))
    aic, bic = information_criteria(fit)
    assert aic == pytest.approx(n * np.log(rss / n) + 2 * 5)
    assert bic == pytest.approx(n * np.log(rss / n) + 5 * np.log(n))


def test_rolling_folds_fit_smaller_sizes_and_predict_the_next():
    runs = size_token_grid(CHINCHILLA, SIZES, RATIOS, noise=0.0, seed=0)
    folds = rolling_folds(runs, ChinchillaLaw)
    assert [f["N"] for f in folds] == pytest.approx(SIZES[-4:].tolist())
    assert [f["n_fit"] for f in folds] == [25, 30, 35, 40]
    assert all(f["rms_log_error"] < 1e-4 for f in folds)  # exact data, the right form


@pytest.mark.parametrize(("truth", "form"), [(CHINCHILLA, "chinchilla"), (KAPLAN, "kaplan_nd")])
def test_the_generating_form_is_chosen(truth, form):
    N = np.repeat(SIZES, len(RATIOS))
    D = N * np.tile(RATIOS, len(SIZES))
    noise = np.exp(0.003 * np.random.default_rng(5).standard_normal(len(N)))
    runs = {"N": N, "D": D, "loss": truth.predict(N=N, D=D) * noise}
    selection = select_form(runs)
    assert selection.chosen == form
    assert "rolling validation" in selection.reason
    assert {s.form for s in selection.scores} == {"chinchilla", "kaplan_nd"}
