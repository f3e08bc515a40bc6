"""Synthetic runs from a known law: the grids' layout, noise and what a fit recovers."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from scalinglab.laws import ChinchillaLaw, fit_law, synthetic
from scalinglab.laws.synthetic import size_token_grid

LAW = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def test_size_token_grid_lays_one_run_per_size_and_ratio() -> None:
    runs = size_token_grid(LAW, [1e6, 4e6], [10.0, 20.0, 40.0])
    assert runs["N"].tolist() == [1e6] * 3 + [4e6] * 3
    assert runs["D"].tolist() == [1e7, 2e7, 4e7, 4e7, 8e7, 1.6e8]
    np.testing.assert_allclose(runs["C"], 6 * runs["N"] * runs["D"])
    np.testing.assert_allclose(runs["loss"], LAW.predict(runs["N"], runs["D"]))


def test_size_token_grid_noise_is_seeded_and_relative() -> None:
    sizes, ratios = np.geomspace(1e6, 1e8, 5), np.geomspace(5.0, 500.0, 7)
    first = size_token_grid(LAW, sizes, ratios, noise=0.01, seed=3)
    again = size_token_grid(LAW, sizes, ratios, noise=0.01, seed=3)
    other = size_token_grid(LAW, sizes, ratios, noise=0.01, seed=4)
    np.testing.assert_array_equal(first["loss"], again["loss"])
    assert not np.array_equal(first["loss"], other["loss"])
    relative = first["loss"] / LAW.predict(first["N"], first["D"]) - 1.0
    assert 0.005 < relative.std() < 0.015


def test_a_fit_recovers_the_exponents_from_a_wide_noiseless_grid() -> None:
    runs = size_token_grid(LAW, np.geomspace(1e6, 1e9, 6), np.geomspace(2.0, 200.0, 7))
    law = fit_law("chinchilla", runs).law
    assert law.alpha == pytest.approx(LAW.alpha, abs=0.01)
    assert law.beta == pytest.approx(LAW.beta, abs=0.01)


def test_docstring_examples() -> None:
    assert doctest.testmod(synthetic).failed == 0
