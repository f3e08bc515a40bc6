"""Scaling-law forms and their fitting. Pure numpy/scipy: never imports torch.

The public API: law forms (:mod:`~scalinglab.laws.forms`), :func:`fit_law` (one form,
many starts), the approaches (:func:`approach1`, :func:`approach2`, :func:`approach3`,
:func:`kaplan`), :func:`bootstrap_law`, :func:`holdout_fit` and :func:`fit_runs` (what
``scalinglab fit`` calls).

Only the forms (numpy) load with the package; the fitting names load on first use
(PEP 562), so that ``scalinglab.plan`` and ``scalinglab fit --help`` never pay for
importing scipy. No pandas or matplotlib is imported here.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from scalinglab.laws.forms import (
    FORMS,
    ChinchillaLaw,
    DataConstrainedLaw,
    DownstreamLaw,
    KaplanC,
    KaplanD,
    KaplanN,
    KaplanND,
    LawForm,
    PowerLawOffset,
    SigmoidAccuracy,
    TaskLossFromLM,
    law_from_dict,
    law_from_json,
)

_LAZY = {
    "ApproachResult": "approaches",
    "approach1": "approaches",
    "approach2": "approaches",
    "approach3": "approaches",
    "kaplan": "approaches",
    "BootstrapResult": "bootstrap",
    "bootstrap_law": "bootstrap",
    "FitResult": "fitter",
    "ResidualStats": "fitter",
    "fit_law": "fitter",
    "holdout_fit": "holdout",
    "FitReport": "orchestrate",
    "MethodReport": "orchestrate",
    "fit_runs": "orchestrate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"scalinglab.laws.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'scalinglab.laws' has no attribute {name!r}")


__all__ = [
    "FORMS",
    "ChinchillaLaw",
    "DataConstrainedLaw",
    "DownstreamLaw",
    "KaplanC",
    "KaplanD",
    "KaplanN",
    "KaplanND",
    "LawForm",
    "PowerLawOffset",
    "SigmoidAccuracy",
    "TaskLossFromLM",
    "law_from_dict",
    "law_from_json",
    *_LAZY,
]
