"""Which parametric form do the runs support? Rolling validation by size, AIC and BIC.

A scaling law is used to extrapolate to larger models, so the forms are compared on
that: a rolling (forward-chaining) cross-validation by model size fits each form on the
sizes below size ``k`` and predicts every run of size ``k``, for the largest
:data:`ROLLING_FOLDS` sizes (as in the OLMo ladder's analysis, Bhagia et al. 2024). The
score is the root mean square of the log errors over all predicted runs (a relative
error in loss). AIC and BIC of the full-data fits (Gaussian likelihood of the log
residuals, ``n log(RSS / n) + 2p`` and ``+ p log n``) are reported beside it.

The form with the lowest rolling error is chosen; with fewer than
:data:`MIN_FIT_SIZES` + 1 model sizes there is no fold and BIC chooses. The reason
given says which criterion decided and whether the others agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.bootstrap import size_groups
from scalinglab.laws.fitter import FitResult, fit_law
from scalinglab.laws.forms import ChinchillaLaw, KaplanND, LawForm

#: The parametric L(N, D) forms compared.
FORMS_COMPARED: tuple[type[LawForm], ...] = (ChinchillaLaw, KaplanND)
#: How many of the largest sizes are predicted, one fold each.
ROLLING_FOLDS = 4
#: Fewest model sizes a fold's fit may use.
MIN_FIT_SIZES = 3


@dataclass(frozen=True)
class FormScore:
    """One form's scores: rolling error (RMS log error, None without folds), AIC, BIC."""

    form: str
    n_params: int
    rolling_error: float | None
    folds: list[dict[str, float]]
    aic: float
    bic: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "form": self.form,
            "n_params": self.n_params,
            "rolling_error": self.rolling_error,
            "folds": self.folds,
            "aic": self.aic,
            "bic": self.bic,
        }


@dataclass(frozen=True)
class FormSelection:
    """The scores of every form, the chosen form and why."""

    scores: list[FormScore]
    chosen: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "reason": self.reason,
            "forms": [score.to_dict() for score in self.scores],
        }


def information_criteria(fit: FitResult) -> tuple[float, float]:
    """``(AIC, BIC)`` of a fit from its log residuals (Gaussian likelihood, up to a
    constant shared by all forms fitted to the same runs)."""
    n = fit.residuals.n
    p = len(fit.law.parameter_names())
    mse = max(fit.residuals.rmse**2, 1e-300)
    fit_term = n * np.log(mse)
    return float(fit_term + 2 * p), float(fit_term + p * np.log(n))


def rolling_folds(
    table: Any, form: type[LawForm], *, folds: int = ROLLING_FOLDS, **fit_options: Any
) -> list[dict[str, float]]:
    """Fit ``form`` on the sizes below ``k`` and predict size ``k``, for the largest
    ``folds`` sizes that leave at least :data:`MIN_FIT_SIZES` sizes (and as many runs as
    the form has parameters) to fit. One dict per fold: the size ``N`` (geometric mean),
    runs fitted and predicted, and the RMS and mean of the log errors."""
    columns = {name: np.asarray(table[name], dtype=float) for name in ("N", "D", "loss")}
    groups = size_groups(columns["N"])
    n_sizes = int(groups.max()) + 1
    out = []
    for k in range(max(MIN_FIT_SIZES, n_sizes - folds), n_sizes):
        train, test = groups < k, groups == k
        if train.sum() < len(form.parameter_names()):
            continue
        fit = fit_law(form, {n: v[train] for n, v in columns.items()}, **fit_options)
        predicted = fit.law.predict(N=columns["N"][test], D=columns["D"][test])
        errors = np.log(predicted / columns["loss"][test])
        out.append(
            {
                "N": float(np.exp(np.mean(np.log(columns["N"][test])))),
                "n_fit": int(train.sum()),
                "n_predicted": int(test.sum()),
                "rms_log_error": float(np.sqrt(np.mean(errors**2))),
                "mean_log_error": float(np.mean(errors)),
            }
        )
    return out


def score_form(
    table: Any, form: type[LawForm], fit: FitResult | None = None, **fit_options: Any
) -> FormScore:
    """Rolling error and AIC/BIC of ``form`` (``fit``: its full-data fit, if done)."""
    full = fit if fit is not None else fit_law(form, table, **fit_options)
    folds = rolling_folds(table, form, **fit_options)
    rolling = None
    if folds:
        squared = sum(f["rms_log_error"] ** 2 * f["n_predicted"] for f in folds)
        rolling = float(np.sqrt(squared / sum(f["n_predicted"] for f in folds)))
    aic, bic = information_criteria(full)
    return FormScore(form.form, len(form.parameter_names()), rolling, folds, aic, bic)


def select_form(
    table: Any, fits: dict[str, FitResult] | None = None, **fit_options: Any
) -> FormSelection:
    """Score every form of :data:`FORMS_COMPARED` and choose one (module docstring).

    ``fits`` maps form names to full-data fits already made (they are reused).
    """
    fits = fits or {}
    scores = []
    for form in FORMS_COMPARED:
        try:
            scores.append(score_form(table, form, fits.get(form.form), **fit_options))
        except ScalingLabError:
            continue
    if not scores:
        raise ScalingLabError("no parametric form could be fitted to compare forms")
    return _choose(scores)


def _best(scores: list[FormScore], key: str) -> FormScore:
    return min(scores, key=lambda s: getattr(s, key))


def _choose(scores: list[FormScore]) -> FormSelection:
    by_aic, by_bic = _best(scores, "aic"), _best(scores, "bic")
    scored = [s for s in scores if s.rolling_error is not None]
    if len(scored) == len(scores) and len(scores) > 1:
        chosen = _best(scores, "rolling_error")
        others = ", ".join(f"{s.form} {s.rolling_error:.2%}" for s in scores if s is not chosen)
        reason = (
            f"lowest rolling validation error (fit on smaller sizes, predict the next; RMS "
            f"relative error {chosen.rolling_error:.2%} against {others} over "
            f"{len(chosen.folds)} sizes)"
        )
    else:
        chosen = by_bic
        reason = "lowest BIC (too few model sizes for a rolling validation)"
    agree = [name for name, best in (("AIC", by_aic), ("BIC", by_bic)) if best is chosen]
    differ = [name for name, best in (("AIC", by_aic), ("BIC", by_bic)) if best is not chosen]
    if differ:
        reason += (
            f"; {' and '.join(differ)} prefer {(by_aic if by_aic is not chosen else by_bic).form}"
        )
    elif len(scores) > 1:
        reason += f"; {' and '.join(agree)} agree"
    return FormSelection(scores, chosen.form, reason)
