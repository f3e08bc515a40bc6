"""Acceptance: the Chinchilla fit of the Epoch data (global Huber minimum, Epoch's values)."""

from __future__ import annotations

import pytest

from scalinglab.laws import ChinchillaLaw, fit_law


@pytest.fixture(scope="module")
def huber_fit(epoch_table):
    return fit_law("chinchilla", epoch_table)


def test_epoch_points(epoch_table):
    assert len(epoch_table) == 240


def test_reaches_global_huber_minimum(huber_fit):
    assert huber_fit.value == pytest.approx(1.018274e-3, abs=1e-9)
    expected = {"E": 1.8172, "A": 477.8, "B": 2143, "alpha": 0.3473, "beta": 0.3672}
    for name, value in expected.items():
        assert huber_fit.params[name] == pytest.approx(value, rel=0.01), name
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
