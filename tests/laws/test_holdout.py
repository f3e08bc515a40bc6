"""Held-out extrapolation: which runs are held out, and how well the largest are predicted."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.laws import ChinchillaLaw, holdout_fit
from scalinglab.laws.holdout import holdout_mask
from scalinglab.laws.synthetic import isoflop_design

LAW = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
TABLE = {"N": np.array([1, 2, 3, 3, 4.0]), "C": np.array([5, 1, 4, 2, 3.0])}


def test_mask_by_compute_takes_the_largest_c():
    assert holdout_mask(TABLE, 2, "C").tolist() == [True, False, True, False, False]


def test_mask_by_size_takes_every_run_of_the_largest_sizes():
    assert holdout_mask(TABLE, 2, "N").tolist() == [False, False, True, True, True]


@pytest.mark.parametrize(
    ("k", "by", "message"),
    [
        (5, "C", "cannot hold out"),
        (4, "N", "model sizes"),
        (0, "C", "at least one"),
        (1, "loss", "unknown"),
    ],
)
def test_bad_holdout_requests(k, by, message):
    with pytest.raises(ScalingLabError, match=message):
        holdout_mask({**TABLE, "loss": TABLE["C"]}, k, by)


def test_noisy_runs_extrapolate_to_the_largest_budget_within_noise():
    runs = isoflop_design(LAW, np.geomspace(1e18, 1e21, 7), sizes_per_budget=7, noise=0.003, seed=2)
    rows = holdout_fit(runs, 7, by="C")
    assert len(rows) == 7
    assert min(r["C"] for r in rows) == pytest.approx(1e21)
    for row in rows:
        assert row["rel_error"] == pytest.approx(row["predicted"] / row["loss"] - 1)
        assert abs(row["rel_error"]) < 0.02


def test_epoch_largest_sizes_held_out(epoch_table):
    rows = holdout_fit(epoch_table, 2, by="N")
    sizes = np.unique(epoch_table["N"])
    assert all(r["N"] >= sizes[-2] for r in rows)
    assert np.median([abs(r["rel_error"]) for r in rows]) < 0.05


@pytest.mark.parametrize("method", ["approach1", "approach2"])
def test_approaches_1_and_2_are_scored_by_their_own_frontier(method):
    from scalinglab.laws.holdout import holdout_frontier

    budgets = np.geomspace(1e18, 1e21, 7)
    runs = isoflop_design(LAW, budgets, sizes_per_budget=9, noise=0.002, seed=3)
    rows = holdout_frontier(runs, 9, method=method, by="C", bootstrap=100)
    # the held-out budget 1e21: approach 2 measures its parabola minimum, approach 1 its
    # lowest run; both predicted from the training frontier's L(C) = E + A C^-alpha
    assert len(rows) == 1
    row = rows[0]
    assert row["C"] == pytest.approx(1e21)
    n_star, d_star = LAW.compute_optimal(1e21)
    optimum = float(LAW.predict(n_star, d_star))  # the truth's compute-optimal loss
    assert row["loss"] == pytest.approx(optimum, rel=0.01)
    assert row["predicted"] == pytest.approx(optimum, rel=0.01)
    assert row["lower"] < row["loss"] < row["upper"]
    assert row["N_predicted"] == pytest.approx(float(n_star), rel=0.3)
    expected = "parabola minimum" if method == "approach2" else "envelope"
    assert expected in row["measured_as"]


def test_frontier_holdout_needs_enough_training_budgets():
    from scalinglab.laws.holdout import holdout_frontier

    runs = isoflop_design(LAW, np.geomspace(1e18, 1e20, 4), sizes_per_budget=7, seed=1)
    with pytest.raises(ScalingLabError, match="needs 4 points"):
        holdout_frontier(runs, 7, method="approach2")
