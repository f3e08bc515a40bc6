"""Functional forms of scaling laws, one module each, in the :data:`FORMS` registry.

A form module defines a frozen dataclass (the parameters), decorates it with
:func:`register_form` and declares there its formula, inputs, bounds, log model, start
grid and plot/plan hooks (see :mod:`scalinglab.laws.forms.base`). Importing this package
registers the built-in forms: :mod:`~.chinchilla`, :mod:`~.power_offset`, :mod:`~.kaplan`,
:mod:`~.data_constrained`, :mod:`~.downstream`. Forms know nothing about fitting;
:mod:`scalinglab.laws.fitter` fits them.

Units: ``N`` parameters, ``D`` tokens, ``C`` FLOPs, loss in nats per token.

>>> law = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
>>> law_from_dict(law.to_dict()) == law
True
"""

from __future__ import annotations

import json
import math
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms.base import FORMS, Bound, LawForm, register_form
from scalinglab.laws.forms.chinchilla import ChinchillaLaw
from scalinglab.laws.forms.data_constrained import DataConstrainedLaw
from scalinglab.laws.forms.downstream import DownstreamLaw, SigmoidAccuracy, TaskLossFromLM
from scalinglab.laws.forms.kaplan import KaplanC, KaplanD, KaplanN, KaplanND, KaplanPower
from scalinglab.laws.forms.power_offset import PowerLawOffset

__all__ = [
    "FORMS",
    "Bound",
    "ChinchillaLaw",
    "DataConstrainedLaw",
    "DownstreamLaw",
    "KaplanC",
    "KaplanD",
    "KaplanN",
    "KaplanND",
    "KaplanPower",
    "LawForm",
    "PowerLawOffset",
    "SigmoidAccuracy",
    "TaskLossFromLM",
    "law_from_dict",
    "law_from_json",
    "register_form",
]


def law_from_dict(data: dict[str, Any]) -> LawForm | DownstreamLaw:
    """Rebuild a law from ``to_dict()`` output (or a ``scalinglab fit --json`` file).

    Raises :class:`ScalingLabError` naming the unknown form or the missing parameters.
    """
    form = data.get("form")
    if form == DownstreamLaw.form:
        task_loss = law_from_dict(data["task_loss"])
        accuracy = law_from_dict(data["accuracy"])
        if not isinstance(accuracy, SigmoidAccuracy) or not isinstance(
            task_loss, ChinchillaLaw | TaskLossFromLM
        ):
            raise ScalingLabError("a downstream law needs a task-loss law and a sigmoid accuracy")
        return DownstreamLaw(task_loss, accuracy)
    if form not in FORMS:
        known = ", ".join(sorted([*FORMS, DownstreamLaw.form]))
        raise ScalingLabError(f"unknown law form {form!r}; use one of: {known}")
    cls = FORMS[form]
    params = data.get("params", {})
    missing = [name for name in cls.parameter_names() if name not in params]
    if missing:
        raise ScalingLabError(
            f"law of form {form!r} lacks parameters {', '.join(missing)}; "
            f"give all of {', '.join(cls.parameter_names())}"
        )
    values = {name: float(params[name]) for name in cls.parameter_names()}
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise ScalingLabError(f"law of form {form!r} has non-finite parameters: {', '.join(bad)}")
    return cls(**values)


def law_from_json(text: str) -> LawForm | DownstreamLaw:
    """Rebuild a law from its JSON text."""
    return law_from_dict(json.loads(text))
