"""Bootstrap by model size: grouping, resampled counts, and prediction intervals that cover
held-out sizes when every size has its own systematic error."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.laws import ChinchillaLaw, bootstrap_law, fit_law
from scalinglab.laws.bootstrap import resample_counts, resample_groups, size_groups
from scalinglab.laws.holdout import holdout_fit
from scalinglab.laws.synthetic import size_token_grid

TRUTH = ChinchillaLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
RATIOS = (5.0, 10.0, 20.0, 40.0, 80.0)


def test_sizes_within_five_percent_are_one_size():
    N = np.array([1e8, 1.02e8, 3e8, 1e9, 2.99e8, 1.04e8 * 1.02])
    assert size_groups(N).tolist() == [0, 0, 1, 2, 1, 0]


def test_group_counts_draw_whole_groups():
    groups = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    counts = resample_counts(len(groups), 500, seed=2, groups=groups)
    for g in range(4):
        members = counts[:, groups == g]
        assert (members == members[:, :1]).all()  # every run of a size counted alike
    first_run = np.array([np.flatnonzero(groups == g)[0] for g in range(4)])
    assert (counts[:, first_run].sum(axis=1) == 4).all()  # 4 sizes drawn per resample
    left_out = (counts[:, first_run] == 0).mean()
    assert left_out == pytest.approx((3 / 4) ** 4, abs=0.04)  # P(a size is not drawn)


def test_auto_resamples_sizes_only_when_sizes_repeat():
    repeated = np.repeat([1e7, 1e8, 1e9], 3)
    assert resample_groups("auto", repeated) is not None
    assert resample_groups("auto", np.geomspace(1e7, 1e9, 9)) is None
    assert resample_groups("run", repeated) is None
    with pytest.raises(ScalingLabError, match="at least 3 model sizes"):
        resample_groups("size", np.repeat([1e7, 1e8], 3))
    with pytest.raises(ScalingLabError, match="unknown"):
        resample_groups("seed", repeated)


def test_prediction_interval_is_wider_than_the_band_of_the_mean():
    runs = size_token_grid(TRUTH, np.geomspace(2e7, 2e9, 8), RATIOS, noise=0.01, seed=1)
    fit = fit_law("chinchilla", runs)
    boot = bootstrap_law("chinchilla", runs, 100, starts=fit.local_minima, n_jobs=1, by="size")
    assert boot.by == "size"
    band = boot.predict_interval(N=[5e9], D=[1e11])
    pred = boot.prediction_interval(N=[5e9], D=[1e11])
    assert pred[0][0] < band[0][0]
    assert pred[1][0] > band[1][0]


def test_size_bootstrap_covers_held_out_sizes_with_size_level_errors():
    covered = {"size": [], "run": []}
    for seed in range(6):
        runs = size_token_grid(
            TRUTH, np.geomspace(2e7, 2e9, 10), RATIOS, noise=0.005, size_noise=0.02, seed=seed
        )
        for by, hits in covered.items():
            rows = holdout_fit(runs, 2, by="N", bootstrap=100, bootstrap_by=by, seed=seed)
            hits += [r["lower"] <= r["loss"] <= r["upper"] for r in rows]
    # 60 held-out runs of 12 sizes; benchmarks/interval_coverage.py measures 100 data sets
    assert np.mean(covered["size"]) >= 0.85
    assert np.mean(covered["size"]) > np.mean(covered["run"]) + 0.1
