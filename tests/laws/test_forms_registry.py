"""The form registry: every form declares its model, starts and bounds in one place."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from importlib import import_module
from typing import ClassVar

import numpy as np
import pytest

from scalinglab.laws.forms import (
    FORMS,
    Bound,
    ChinchillaLaw,
    KaplanC,
    KaplanD,
    KaplanN,
    KaplanPower,
    LawForm,
    law_from_dict,
    register_form,
)
from scalinglab.laws.log_model import LogModel

N = np.geomspace(1e7, 1e10, 9)
D = np.geomspace(1e9, 1e11, 9)[::-1]
TARGET = np.linspace(2.0, 4.0, 9)


@pytest.mark.parametrize("name", sorted(FORMS))
def test_each_form_declares_model_starts_and_bounds(name: str) -> None:
    form = FORMS[name]
    assert form.form == name
    model = form.log_model()
    assert isinstance(model, LogModel)
    assert model.names == form.parameter_names() == tuple(form.bounds)
    starts = form.default_starts(TARGET)
    assert starts.ndim == 2
    assert starts.shape[1] == len(form.parameter_names())
    assert np.all(np.isfinite(starts))


def test_kaplan_laws_are_one_family() -> None:
    for member, variable in ((KaplanN, "N"), (KaplanD, "D"), (KaplanC, "C")):
        assert issubclass(member, KaplanPower)
        assert member.inputs == (variable,)
        assert member.parameter_names() == (f"{variable}c", f"alpha{variable}")
    law = KaplanN(Nc=8.8e13, alphaN=0.076)
    # Kaplan et al. 2020, eq. 1.1 evaluated by hand: (8.8e13 / 1e9) ** 0.076.
    assert float(law.predict(1e9)) == pytest.approx(88_000.0**0.076, rel=1e-14)
    assert float(law.predict(N=1e9)) == float(law.predict(1e9))
    assert law_from_dict(law.to_dict()) == law
    # Laws cross the bootstrap's process pool, and pickle finds a class by its module
    # and qualified name: every family member must be reachable under its own.
    member = type(law)
    assert getattr(import_module(member.__module__), member.__qualname__) is member
    assert pickle.dumps(law)
    assert KaplanC.default_starts(TARGET).shape == (17 * 7, 2)


def test_base_model_takes_finite_differences_of_predict() -> None:
    analytic = ChinchillaLaw.log_model()
    generic = LogModel(ChinchillaLaw)
    params = {"E": 1.7, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}
    theta = analytic.to_internal(params)[None, :]
    data = {"N": N, "D": D}
    f_a, J_a = analytic.value_jac(theta, analytic.prepare(data))
    f_g, J_g = generic.value_jac(theta, generic.prepare(data))
    np.testing.assert_allclose(f_g, f_a, rtol=1e-13)
    np.testing.assert_allclose(J_g, J_a, rtol=1e-5, atol=1e-8)


def test_register_form_refuses_a_second_form_of_the_same_name_or_loose_bounds() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @register_form
        @dataclass(frozen=True)
        class Impostor(LawForm):
            E: float
            form: ClassVar[str] = "chinchilla"
            inputs: ClassVar[tuple[str, ...]] = ("N",)
            bounds: ClassVar[dict[str, Bound]] = {"E": Bound(0.0, 1.0)}

    with pytest.raises(ValueError, match="bounds and parameters differ"):

        @register_form
        @dataclass(frozen=True)
        class Unbounded(LawForm):
            E: float
            form: ClassVar[str] = "unbounded_test_form"
            inputs: ClassVar[tuple[str, ...]] = ("N",)
            bounds: ClassVar[dict[str, Bound]] = {}

    assert FORMS["chinchilla"] is ChinchillaLaw
    assert "unbounded_test_form" not in FORMS
