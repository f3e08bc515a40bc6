"""Analytic Jacobians and Hessians of every form's log-prediction against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.laws.forms import (
    ChinchillaLaw,
    DataConstrainedLaw,
    KaplanC,
    KaplanD,
    KaplanN,
    KaplanND,
    PowerLawOffset,
    SigmoidAccuracy,
    TaskLossFromLM,
)
from scalinglab.laws.log_model import LogModel
from scalinglab.laws.objectives import HuberLikelihood, HuberObjective, huber, huber_log_normaliser

rng = np.random.default_rng(0)
N = np.geomspace(1e7, 1e10, 12)
D = np.geomspace(1e9, 1e11, 12)[::-1]
DATA = {
    "N": N,
    "D": D,
    "C": 6 * N * D,
    "x": N,
    "unique_tokens": D / np.linspace(1, 8, 12),
    "loss": np.linspace(2.0, 4.0, 12),
    "task_loss": np.linspace(0.5, 3.0, 12),
}
CASES = [
    (ChinchillaLaw, {"E": 1.7, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}),
    (PowerLawOffset, {"E": 1.5, "A": 300.0, "alpha": 0.3}),
    (KaplanN, {"Nc": 8.8e13, "alphaN": 0.076}),
    (KaplanD, {"Dc": 5.4e13, "alphaD": 0.095}),
    (KaplanC, {"Cc": 1.6e25, "alphaC": 0.05}),
    (KaplanND, {"Nc": 8.8e13, "Dc": 5.4e13, "alphaN": 0.076, "alphaD": 0.095}),
    (
        DataConstrainedLaw,
        {
            **{"E": 1.7, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36},
            **{"rd_star": 15.0, "rn_star": 5.0},
        },
    ),
    (TaskLossFromLM, {"A": 0.5, "alpha": 2.0}),
    (SigmoidAccuracy, {"a": 0.6, "b": 0.3, "k": -3.0, "L0": 1.5}),
]


@pytest.mark.parametrize(("form", "params"), CASES, ids=[c[0].form for c in CASES])
def test_value_matches_predict_and_jacobian_matches_differences(form, params):
    model = form.log_model()
    X = model.prepare(DATA)
    theta = model.to_internal(params)[None, :]
    law = form(**params)
    expected = np.log(law.predict(**{k: DATA[k] for k in form.inputs}))
    f, J = model.value_jac(theta, X)
    np.testing.assert_allclose(f[0], expected, rtol=1e-10)
    for q in range(len(params)):
        h = 1e-6 * (1 + abs(theta[0, q]))
        up, down = theta.copy(), theta.copy()
        up[0, q] += h
        down[0, q] -= h
        numeric = (model.value(up, X) - model.value(down, X))[0] / (2 * h)
        np.testing.assert_allclose(J[0, :, q], numeric, rtol=1e-5, atol=1e-7)


def test_chinchilla_analytic_hessian_matches_differences_of_jacobian():
    model = ChinchillaLaw.log_model()
    X = model.prepare(DATA)
    theta = model.to_internal(CASES[0][1])[None, :]
    c = rng.standard_normal((1, len(N)))
    analytic = model.weighted_hessian(theta, X, c)
    numeric = LogModel.weighted_hessian(model, theta, X, c)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-6 * np.abs(analytic).max())


def test_huber_objective_gradient_matches_differences():
    model = ChinchillaLaw.log_model()
    X = model.prepare(DATA)
    objective = HuberObjective(model, X, np.log(DATA["loss"]), delta=0.05)
    theta = model.to_internal(CASES[0][1])[None, :]
    _f, g, _ = objective.value_grad_hess(theta)
    for q in range(5):
        up, down = theta.copy(), theta.copy()
        up[0, q] += 1e-7
        down[0, q] -= 1e-7
        numeric = (objective.value(up) - objective.value(down))[0] / 2e-7
        assert g[0, q] == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_huber_is_quadratic_inside_and_linear_outside():
    r = np.array([-0.5, -1e-3, 0.0, 5e-4, 2.0])
    expected = [1e-3 * (0.5 - 5e-4), 0.5e-6, 0.0, 0.5 * 25e-8, 1e-3 * (2.0 - 5e-4)]
    np.testing.assert_allclose(huber(r, 1e-3), expected)


def test_huber_density_integrates_to_one():
    delta = 0.7
    x = np.linspace(-60, 60, 600_001)
    density = np.exp(-huber(x, delta) - huber_log_normaliser(delta))
    assert np.trapezoid(density, x) == pytest.approx(1.0, rel=1e-6)


def test_likelihood_gradient_matches_differences():
    model = ChinchillaLaw.log_model()
    X = model.prepare(DATA)
    likelihood = HuberLikelihood(model, X, np.log(DATA["loss"]), delta=1e-3)
    params = np.append(model.to_internal(CASES[0][1]), np.log(0.05))
    _, grad = likelihood.value_grad(params)
    for q in range(6):
        up, down = params.copy(), params.copy()
        up[q] += 1e-7
        down[q] -= 1e-7
        numeric = (likelihood.value_grad(up)[0] - likelihood.value_grad(down)[0]) / 2e-7
        assert grad[q] == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def _reference_huber_terms(model, X, log_y, w, delta, theta, curvature):
    """Objective, gradient and curvature from the model's Jacobian (no fused kernel)."""
    f, J = model.value_jac(theta, X)
    r = f - log_y
    d1 = np.clip(r, -delta, delta)
    value = (w * d1 * (r - 0.5 * d1)).sum(axis=1)
    grad = np.einsum("kn,knp->kp", w * d1, J)
    if curvature == "irls":
        c = w * np.minimum(1.0, delta / np.abs(r))
        return value, grad, np.einsum("knp,kn,knq->kpq", J, c, J)
    c = w * (np.abs(r) <= delta)
    hess = np.einsum("knp,kn,knq->kpq", J, c, J) + model.weighted_hessian(theta, X, w * d1)
    return value, grad, hess


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("curvature", ["irls", "exact"])
def test_fused_chinchilla_terms_match_jacobian_path_and_reuse_scratch(curvature, weighted):
    model = ChinchillaLaw.log_model()
    X = model.prepare(DATA)
    log_y = np.log(DATA["loss"])
    delta = 0.05  # some residuals inside the quadratic part, some beyond
    base = model.to_internal(CASES[0][1])
    theta = base + rng.normal(scale=0.3, size=(9, 5))
    counts = rng.integers(0, 3, size=(9, len(N))).astype(float)
    weights = counts if weighted else np.ones((9, len(N)))
    objective = HuberObjective(model, X, log_y, delta, counts if weighted else None)
    # Evaluate a small block first so the scratch buffers must grow, then the full block,
    # then a small block again (views of larger buffers).
    objective.subset(np.arange(2)).value_grad_hess(theta[:2], curvature)
    for rows in (np.arange(9), np.arange(3)):
        got = objective.subset(rows).value_grad_hess(theta[rows], curvature)
        expected = _reference_huber_terms(
            model, X, log_y, weights[rows], delta, theta[rows], curvature
        )
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12 * np.abs(e).max())
