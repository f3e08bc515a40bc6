"""Influential runs: the Epoch table's high-loss rows, and planted outliers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.laws import ChinchillaLaw, fit_law
from scalinglab.laws.influence import allocation, influential_runs
from scalinglab.laws.synthetic import isoflop_design

from .conftest import DATA

LAW = ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)


def test_allocation_matches_the_laws_compute_optimal():
    laws = [LAW, ChinchillaLaw(E=1.7, A=406.4, B=410.7, alpha=0.34, beta=0.28)]
    params = np.array([list(law.params.values()) for law in laws])
    a, tpp = allocation(params, 3e21)
    for i, law in enumerate(laws):
        n_star, d_star = law.compute_optimal(3e21)
        assert a[i] == pytest.approx(law.beta / (law.alpha + law.beta))
        assert tpp[i] == pytest.approx(float(d_star / n_star), rel=1e-9)


@pytest.fixture(scope="module")
def epoch_influence():
    table = pd.read_csv(DATA)
    fit = fit_law("chinchilla", table)
    return influential_runs(fit, table, np.arange(len(table)) + 2)


def test_epoch_high_loss_rows_are_named_first(epoch_influence):
    table = pd.read_csv(DATA)
    highest = set((np.argsort(-table["loss"].to_numpy())[:5] + 2).tolist())
    named = [run["line"] for run in epoch_influence.runs]
    assert highest == {2, 3, 4, 5, 6}
    # All five (the rows Epoch AI dropped) are named, line 6 as an outlier only.
    assert highest <= set(named)
    # The four highest losses are the first four named runs; together they move the
    # tokens per parameter at the largest budget from about 11 to about 19.
    assert set(named[:4]) == {2, 3, 4, 5}
    assert epoch_influence.tokens_per_param == pytest.approx(11.1, abs=0.2)
    assert epoch_influence.runs[3]["after"]["tokens_per_param"] == pytest.approx(19.3, abs=0.3)
    first = epoch_influence.runs[0]
    assert set(first) == {"line", "N", "D", "loss", "effect", "after", "reasons", "residual_z"}
    assert first["reasons"] == ["headline", "outlier"]
    assert first["loss"] == pytest.approx(table["loss"].max())
    assert first["effect"]["tokens_per_param"] > 0.05


def test_each_named_run_exceeds_the_threshold_or_is_an_outlier(epoch_influence):
    for run in epoch_influence.runs:
        effect = run["effect"]
        moves = abs(effect["a"]) >= 0.01 or abs(effect["tokens_per_param"]) >= 0.05
        assert ("headline" in run["reasons"]) == (run["after"] is not None)
        assert moves or "headline" not in run["reasons"]
        assert ("outlier" in run["reasons"]) == (abs(run["residual_z"]) > 3.71)


@pytest.mark.slow
def test_epoch_outliers_match_an_independent_leave_one_out(epoch_influence):
    """The outliers are the runs whose leave-one-out log residual is more than the
    Bonferroni cutoff (3.71 for 245 runs) scaled MADs from the median: here each run
    is predicted by scipy's L-BFGS-B Huber refit without it (started at the full fit),
    and the MAD and cutoff are scipy's, independently of the code."""
    from scipy.optimize import minimize
    from scipy.special import huber, logsumexp
    from scipy.stats import median_abs_deviation, norm

    table = pd.read_csv(DATA)
    logN, logD, logy = (np.log(table[k].to_numpy()) for k in ("N", "D", "loss"))
    law = fit_law("chinchilla", table).law.params
    start = [*np.log([law["E"], law["A"], law["B"]]), law["alpha"], law["beta"]]

    def log_predict(x, rows):
        e, a, b, alpha, beta = x
        terms = [np.full(rows.size, e), a - alpha * logN[rows], b - beta * logD[rows]]
        return logsumexp(np.stack(terms), axis=0)

    def objective(x, rows):
        return huber(1e-3, log_predict(x, rows) - logy[rows]).sum()

    everything = np.arange(len(table))
    loo = np.empty(len(table))
    for i in everything:
        rest = everything[everything != i]
        x = minimize(objective, start, args=(rest,), method="L-BFGS-B", tol=1e-14).x
        loo[i] = logy[i] - log_predict(x, np.array([i]))[0]
    z = (loo - np.median(loo)) / median_abs_deviation(loo, scale="normal")
    cutoff = max(3.5, norm.ppf(1 - 0.05 / (2 * len(table))))  # Bonferroni over 245 runs
    clear = np.abs(np.abs(z) - cutoff) > 0.1  # rows this close to it may go either way
    expected = set((np.flatnonzero((np.abs(z) > cutoff) & clear) + 2).tolist())
    named = set(epoch_influence.to_json_dict()["outliers"])
    assert expected <= named
    assert named - expected <= set((np.flatnonzero(~clear) + 2).tolist())
    line6 = next(run for run in epoch_influence.runs if run["line"] == 6)
    assert line6["reasons"] == ["outlier"]
    assert line6["residual_z"] == pytest.approx(z[4], rel=0.02)


def test_clean_data_names_nothing_and_planted_outliers_are_found():
    design = isoflop_design(LAW, np.geomspace(1e18, 1e21, 5), sizes_per_budget=7, noise=0.003)
    runs = pd.DataFrame(design)
    fit = fit_law("chinchilla", runs)
    lines = np.arange(len(runs))
    clean = influential_runs(fit, runs, lines)
    assert clean.runs == []
    assert clean.to_json_dict()["outliers"] == []
    bad = runs.copy()
    smallest = np.argsort(bad["C"].to_numpy())[:3]
    bad.loc[smallest, "loss"] *= 1.4
    named = influential_runs(fit_law("chinchilla", bad), bad, lines).runs
    assert named
    assert named[0]["line"] in smallest


def test_after_agrees_with_an_independent_refit(epoch_influence):
    """Refitting from the full grid without the named runs gives the reported headline."""
    table = pd.read_csv(DATA)
    named = [run["line"] - 2 for run in epoch_influence.headline_runs]
    refit = fit_law("chinchilla", table.drop(index=named))
    a, tpp = allocation(np.array([list(refit.params.values())]), epoch_influence.budget)
    after = epoch_influence.headline_runs[-1]["after"]
    assert a[0] == pytest.approx(after["a"], abs=1e-3)
    assert tpp[0] == pytest.approx(after["tokens_per_param"], rel=0.01)


def test_kaplan_allocation_matches_the_approach():
    from scalinglab.laws import KaplanND
    from scalinglab.laws.approaches import kaplan_allocation as reference
    from scalinglab.laws.influence import kaplan_allocation

    law = KaplanND(Nc=8.8e13, Dc=5.4e13, alphaN=0.076, alphaD=0.095)
    a, tpp = kaplan_allocation(np.array([list(law.params.values())]), 1e22)
    ref_a, _, n_coef, d_coef = reference(law)
    assert a[0] == pytest.approx(ref_a)
    assert tpp[0] == pytest.approx(d_coef * 1e22 ** (1 - ref_a) / (n_coef * 1e22**ref_a))


def test_approach2_search_agrees_with_rerunning_the_approach():
    from scalinglab.laws.approaches import approach2
    from scalinglab.laws.influence import influential_rows_by_refit

    design = isoflop_design(LAW, np.geomspace(1e18, 1e21, 4), sizes_per_budget=7, noise=0.002)
    runs = pd.DataFrame(design)
    middle = int(np.flatnonzero(runs["C"] == runs["C"].max())[3])
    runs.loc[middle, "loss"] *= 1.05  # the optimum of the largest budget, made worse
    found = influential_rows_by_refit(approach2, runs, np.arange(len(runs)) + 2)
    assert found.runs
    first = found.runs[0]
    rerun = approach2(runs.drop(index=first["line"] - 2))
    assert first["after"]["a"] == pytest.approx(rerun.a)
    assert first["after"]["tokens_per_param"] == pytest.approx(
        float(rerun.tokens_per_param(found.budget))
    )
