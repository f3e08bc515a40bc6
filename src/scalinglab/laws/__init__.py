"""Scaling-law forms and their fitting. Pure numpy/scipy: never imports torch.

The public API: law forms (:mod:`~scalinglab.laws.forms`), :func:`fit_law` (one form,
many starts), the approaches (:func:`approach1`, :func:`approach2`, :func:`approach3`,
:func:`kaplan`), :func:`bootstrap_law`, :func:`holdout` and :func:`fit_runs` (what
``scalinglab fit`` calls). No pandas or matplotlib is imported here.
"""

from scalinglab.laws.approaches import (
    ApproachResult,
    approach1,
    approach2,
    approach3,
    kaplan,
)
from scalinglab.laws.bootstrap import BootstrapResult, bootstrap_law
from scalinglab.laws.fitter import FitResult, ResidualStats, fit_law
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
from scalinglab.laws.holdout import holdout
from scalinglab.laws.report import FitReport, MethodReport, fit_runs

__all__ = [
    "FORMS",
    "ApproachResult",
    "BootstrapResult",
    "ChinchillaLaw",
    "DataConstrainedLaw",
    "DownstreamLaw",
    "FitReport",
    "FitResult",
    "KaplanC",
    "KaplanD",
    "KaplanN",
    "KaplanND",
    "LawForm",
    "MethodReport",
    "PowerLawOffset",
    "ResidualStats",
    "SigmoidAccuracy",
    "TaskLossFromLM",
    "approach1",
    "approach2",
    "approach3",
    "bootstrap_law",
    "fit_law",
    "fit_runs",
    "holdout",
    "kaplan",
    "law_from_dict",
    "law_from_json",
]
