"""The sweep's error law keeps what a plan needs to carry it to any size: the fitted
range and the bootstrap samples, which reproduce the bands the sweep itself reports."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.finetune.sweep import error_law

SIZES = (1.92e6, 3.70e6, 5.47e6, 7.25e6, 10.8e6)


def test_bootstrap_samples_reproduce_the_stored_bands():
    rng = np.random.default_rng(0)
    rows = [
        {"n_params_nonembed": n, "error": 0.1 + 40.0 * n**-0.3 + 0.005 * rng.standard_normal()}
        for n in SIZES
    ]
    law = error_law(rows, "macro_f1", bootstrap=30)
    assert law["x_range"] == [SIZES[0], SIZES[-1]]
    assert law["ci_level"] == 0.95
    samples = law["bootstrap_params"]
    assert sorted(samples) == ["A", "E", "alpha"]
    assert {len(values) for values in samples.values()} == {30}
    for name, at in (("2x_largest", 2 * SIZES[-1]), ("10x_largest", 10 * SIZES[-1])):
        E, A, alpha = (np.array(samples[key]) for key in ("E", "A", "alpha"))
        band = np.nanpercentile(E + A * at ** (-alpha), [2.5, 97.5])
        assert list(band) == pytest.approx(law["predicted_error_95"][name])
