"""Fine-tuned score carried to planned sizes: a ``finetune-sweep`` law on the candidates.

``scalinglab finetune-sweep`` fits, per fine-tuning method, the test error as a law of
the classifier's non-embedding parameters, ``1 - score = E + A N**-alpha`` (score:
macro-F1, or accuracy with ``--metric accuracy``), with bootstrap samples of
``(E, A, alpha)``. :func:`load_sweep_law` reads that law from the sweep's JSON and
:func:`downstream_rows` evaluates it at each candidate of a plan:

- **Which N.** A plan's sizes count all parameters; the law counts the non-embedding
  parameters of a *classifier* (what ``finetune`` measures: the encoder blocks, the
  embedding LayerNorm, the pooler and the classification head; no embedding tables).
  Each candidate's planned shape (:func:`scalinglab.plan.shapes.shape_for_law_n`) is
  converted by :func:`classifier_nonembed`, exactly, and that count is reported beside
  the score.
- **Interval.** The central ``ci_level`` percentiles of ``1 - err_b(N)`` over the
  bootstrap samples ``b`` (none when the sweep kept no samples).
- **Extrapolation.** Every row says how far past the largest fitted size it is
  (``extrapolation_x`` times, ``log10`` of it in decades); a row inside the fitted range
  is an interpolation.
- **Warnings** when the law is weak: it did not converge, a parameter sits at a bound,
  the fitter warned, it was fitted to few sizes, the sweep flagged rows of this method
  degenerate (left out of the law), or it has no bootstrap samples.

:func:`recommend_by_score` is the F1-aware pick: among the candidates inside the
training budget, the smallest whose predicted score is within ``tolerance`` of the best
predicted in-budget score, with the gain that the best size would add (and its interval
over the same bootstrap samples) and what it costs. It stands beside the plan's
loss-based recommendation, which it does not change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.io import load_json
from scalinglab.laws.forms import PowerLawOffset
from scalinglab.models.counting import block_params, layer_norm_params, linear_params
from scalinglab.models.shape import ShapeSpec
from scalinglab.plan.figure import Figure, size_label

if TYPE_CHECKING:
    from scalinglab.plan.candidates import Candidate

#: Fewer fitted sizes than this get a warning: 3 parameters from 4 points leave one
#: degree of freedom.
FEW_SIZES = 5
_SLACK = 1e-12


@dataclass(frozen=True)
class SweepLaw:
    """One method's error law from a ``finetune-sweep`` JSON, with what it was fitted to.

    ``samples`` is ``(resamples, 3)`` of ``(E, A, alpha)`` or ``None``; ``fitted_range``
    the smallest and largest non-embedding ``N`` fitted [parameters]; ``measured`` the
    sweep's table rows of this method; ``num_labels`` the task's classes.
    """

    method: str
    metric: str
    law: PowerLawOffset
    samples: np.ndarray | None
    ci_level: float
    fitted_range: tuple[float, float]
    points: int
    measured: tuple[dict[str, Any], ...]
    num_labels: int
    source: str
    warnings: tuple[str, ...]

    def score(self, n_nonembed: float | np.ndarray) -> np.ndarray:
        """Predicted score ``1 - (E + A N**-alpha)`` at ``n_nonembed`` parameters."""
        return 1.0 - self.law.predict(x=n_nonembed)

    def sample_scores(self, n_nonembed: float) -> np.ndarray | None:
        """The score at ``n_nonembed`` under each bootstrap sample (finite ones), or None."""
        if self.samples is None:
            return None
        E, A, alpha = self.samples.T
        return 1.0 - (E + A * float(n_nonembed) ** (-alpha))

    def score_interval(self, n_nonembed: float) -> tuple[float, float] | None:
        """Central ``ci_level`` interval of the score over the bootstrap samples."""
        return _percentiles(self.sample_scores(n_nonembed), self.ci_level)

    def gain_interval(self, n_from: float, n_to: float) -> tuple[float, float] | None:
        """Interval of the score gained going from ``n_from`` to ``n_to`` parameters,
        each bootstrap sample's law evaluated at both (so shared error cancels)."""
        low, high = self.sample_scores(n_from), self.sample_scores(n_to)
        if low is None or high is None:
            return None
        return _percentiles(high - low, self.ci_level)

    def formula(self) -> str:
        p = self.law
        return f"1 - {self.metric} = {p.E:.4f} + {p.A:.4g} N^-{p.alpha:.4f}"


@dataclass(frozen=True)
class DownstreamRow:
    """The predicted score of one candidate: its classifier's non-embedding parameters,
    the score and interval, and how many times the largest fitted size it is."""

    metric: str
    n_params_nonembed: int
    score: float
    interval: tuple[float, float] | None
    extrapolation_x: float

    @property
    def extrapolated(self) -> bool:
        return self.extrapolation_x > 1.0 + 1e-9

    @property
    def extrapolation_decades(self) -> float:
        """``log10`` of ``extrapolation_x`` (0 inside the fitted range)."""
        return max(0.0, math.log10(self.extrapolation_x))

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "n_params_nonembed": self.n_params_nonembed,
            "score": self.score,
            "interval": self.interval,
            "extrapolated": self.extrapolated,
            "extrapolation_x": self.extrapolation_x,
            "extrapolation_decades": self.extrapolation_decades,
        }


@dataclass(frozen=True)
class Downstream:
    """The sweep law on a plan's candidates: rows parallel to ``Plan.candidates``, the
    F1-aware pick (``recommended`` index and ``reason``) and the law's warnings."""

    law: SweepLaw
    rows: tuple[DownstreamRow, ...]
    recommended: int
    reason: str
    tolerance: float

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.law.warnings

    def to_dict(self) -> dict[str, Any]:
        law = self.law
        return {
            "source": law.source,
            "method": law.method,
            "metric": law.metric,
            "law": law.law.to_dict(),
            "formula": law.formula(),
            "n": "n_params_nonembed of the classifier (see plan/downstream.py)",
            "fitted_range": list(law.fitted_range),
            "points": law.points,
            "ci_level": law.ci_level,
            "bootstrap_resamples": None if law.samples is None else len(law.samples),
            "measured": list(law.measured),
            "warnings": list(law.warnings),
            "tolerance": self.tolerance,
            "recommended": {"index": self.recommended, "reason": self.reason},
        }

    def figures(self, candidates: Sequence[Candidate]) -> list[Figure]:
        """The law, its fitted range and the F1-aware pick, each with its source."""
        law, pick = self.law, self.rows[self.recommended]
        low, high = law.fitted_range
        return [
            Figure(
                "downstream",
                f"{law.method} error law",
                law.formula(),
                "",
                "fit",
                f"scalinglab finetune-sweep ({law.source}); N = classifier non-embedding params",
            ),
            Figure(
                "downstream",
                "fitted sizes",
                f"{size_label(low)} to {size_label(high)} ({law.points} sizes)",
                "params",
                "fit",
                "non-embedding parameters of the fine-tuned models",
            ),
            Figure(
                "downstream",
                f"{law.metric} of the pick",
                pick.score,
                "fraction",
                "fit",
                f"{candidates[self.recommended].label}: law at N = "
                f"{size_label(pick.n_params_nonembed)}, extrapolated {pick.extrapolation_x:.3g}x",
            ),
        ]


def classifier_nonembed(shape: ShapeSpec, num_labels: int) -> int:
    """Non-embedding parameters of a BERT-layout sequence classifier of ``shape``: the
    embedding LayerNorm, the blocks, the pooler (``d x d``) and the ``num_labels`` head,
    as ``finetune`` counts a classifier (no masked-LM or next-sentence head)."""
    d = shape.d_model
    return int(
        layer_norm_params(d)
        + shape.n_layer * block_params(shape)
        + linear_params(d, d)
        + linear_params(d, num_labels)
    )


def load_sweep_law(spec: str | Path | Mapping[str, Any], method: str) -> SweepLaw:
    """``method``'s law from a ``finetune-sweep`` JSON (a path or its parsed dict).

    One-line :class:`ScalingLabError` when the file is missing or not a sweep, the method
    was not swept, or the sweep fitted it no law.
    """
    where = "<dict>" if isinstance(spec, Mapping) else str(spec)
    data = spec if isinstance(spec, Mapping) else read_sweep_json(Path(spec))
    laws = data.get("laws")
    if not isinstance(laws, Mapping) or not isinstance(data.get("table"), list):
        raise ScalingLabError(
            f"--finetune-sweep {where}: not a finetune-sweep result (no 'laws' and 'table'); "
            "give the sweep.json written by `scalinglab finetune-sweep`"
        )
    if method not in laws:
        raise ScalingLabError(
            f"--finetune-sweep {where} has no method {method!r}; it has "
            f"{', '.join(laws) or 'none'} (choose with --finetune-method)"
        )
    entry = laws[method]
    if not isinstance(entry, Mapping) or entry.get("law") is None:
        note = entry.get("note", "") if isinstance(entry, Mapping) else ""
        raise ScalingLabError(
            f"--finetune-sweep {where}: the sweep fitted no law for {method!r}"
            + (f" ({note})" if note else "")
            + "; sweep at least 4 model sizes"
        )
    law = _power_law(entry["law"], where)
    measured = tuple(
        _measured(row)
        for row in data["table"]
        if isinstance(row, Mapping) and row.get("method") == method
    )
    fitted = [row["n_params_nonembed"] for row in measured if not row["degenerate"]]
    low, high = entry.get("x_range") or (min(fitted, default=0), max(fitted, default=0))
    if not high or high <= 0:
        raise ScalingLabError(
            f"--finetune-sweep {where}: no fitted sizes for {method!r} (no x_range and no "
            "usable table rows)"
        )
    samples = _samples(entry.get("bootstrap_params"), where)
    metric = str(entry.get("y", "1 - macro_f1")).removeprefix("1 - ").strip()
    level = float(entry.get("ci_level", 0.95))
    loaded = SweepLaw(
        method=method,
        metric=metric,
        law=law,
        samples=samples,
        ci_level=level,
        fitted_range=(float(low), float(high)),
        points=int(entry.get("points", len(fitted))),
        measured=measured,
        num_labels=len((data.get("task") or {}).get("labels") or ()) or 2,
        source=where,
        warnings=(),
    )
    return _with_warnings(loaded, entry)


def downstream_rows(law: SweepLaw, shapes: Sequence[ShapeSpec]) -> tuple[DownstreamRow, ...]:
    """The predicted score of each planned shape (see the module docstring)."""
    rows = []
    for shape in shapes:
        n = classifier_nonembed(shape, law.num_labels)
        rows.append(
            DownstreamRow(
                metric=law.metric,
                n_params_nonembed=n,
                score=float(law.score(n)),
                interval=law.score_interval(n),
                extrapolation_x=n / law.fitted_range[1],
            )
        )
    return tuple(rows)


def recommend_by_score(
    law: SweepLaw,
    rows: Sequence[DownstreamRow],
    candidates: Sequence[Candidate],
    tolerance: float,
) -> tuple[int, str]:
    """Index of the smallest in-budget candidate within ``tolerance`` of the best
    in-budget predicted score, and a sentence saying why and what the best size adds."""
    in_budget = [i for i, row in enumerate(candidates) if row.within_budget]
    best = max(in_budget, key=lambda i: (rows[i].score, -candidates[i].allocation.n))
    eligible = [i for i in in_budget if rows[i].score >= rows[best].score - tolerance - _SLACK]
    chosen = min(eligible, key=lambda i: candidates[i].allocation.n)
    pick, top = rows[chosen], rows[best]
    text = (
        f"{candidates[chosen].label} ({size_label(candidates[chosen].allocation.n)} params): "
        f"predicted {law.metric} {pick.score:.4f}{_bracket(pick.interval)}"
    )
    if chosen == best:
        reason = text + f", the best predicted {law.metric} that the budget buys"
    else:
        gain = _bracket(law.gain_interval(pick.n_params_nonembed, top.n_params_nonembed))
        cost = _cost_ratio(candidates[best], candidates[chosen])
        reason = (
            f"{text} is the smallest in-budget size within {tolerance:g} of the best, "
            f"{candidates[best].label} ({top.score:.4f}), which would add "
            f"{top.score - pick.score:+.4f}{gain} at {cost}"
        )
    if pick.extrapolated:
        reason += (
            f"; extrapolated {_times(pick.extrapolation_x)} ({pick.extrapolation_decades:.1f} "
            "decades) past the largest fine-tuned size"
        )
    return chosen, reason


def _cost_ratio(big: Candidate, small: Candidate) -> str:
    """``'12x the training GPU-hours'`` (or FLOPs without a GPU) of ``big`` over ``small``."""
    hours_big, hours_small = big.costs.get("train_gpu_hours"), small.costs.get("train_gpu_hours")
    if hours_big and hours_small:
        return f"{_times(hours_big / hours_small)} the training GPU-hours"
    return f"{_times(big.allocation.flops / small.allocation.flops)} the training FLOPs"


def _times(ratio: float) -> str:
    """``1970.4`` -> ``'1,970x'``; ``2.58`` -> ``'2.58x'``."""
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.3g}x"


def _bracket(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f" [{interval[0]:.4f}, {interval[1]:.4f}]"


def _percentiles(values: np.ndarray | None, level: float) -> tuple[float, float] | None:
    if values is None:
        return None
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def read_sweep_json(path: Path) -> dict[str, Any]:
    """The parsed ``finetune-sweep`` JSON at ``path``; one-line errors (located by
    :func:`scalinglab.io.load_json`) when it is missing, not UTF-8 or not JSON."""
    data = load_json(
        path,
        what="finetune-sweep JSON",
        fix="give the sweep.json written by `scalinglab finetune-sweep` (in its --out folder, "
        "or its --json file)",
    )
    if not isinstance(data, dict):
        raise ScalingLabError(f"--finetune-sweep {path}: the top level is not a JSON object")
    return data


def _power_law(data: Any, where: str) -> PowerLawOffset:
    params = data.get("params", {}) if isinstance(data, Mapping) else {}
    names = PowerLawOffset.parameter_names()
    try:
        values = {name: float(params[name]) for name in names}
    except (KeyError, TypeError, ValueError):
        raise ScalingLabError(
            f"--finetune-sweep {where}: the law lacks numeric {', '.join(names)}"
        ) from None
    if data.get("form") != PowerLawOffset.form or not all(map(math.isfinite, values.values())):
        raise ScalingLabError(
            f"--finetune-sweep {where}: expected a finite power_offset law, got "
            f"{data.get('form')!r}"
        )
    return PowerLawOffset(**values)


def _samples(raw: Any, where: str) -> np.ndarray | None:
    """``(resamples, 3)`` array of finite ``(E, A, alpha)`` samples, or None."""
    if not raw:
        return None
    names = PowerLawOffset.parameter_names()
    try:
        columns = [np.asarray(raw[name], dtype=float) for name in names]
        samples = np.column_stack(columns)
    except (KeyError, TypeError, ValueError):
        raise ScalingLabError(
            f"--finetune-sweep {where}: bootstrap_params needs equal-length lists of "
            f"{', '.join(names)}"
        ) from None
    samples = samples[np.all(np.isfinite(samples), axis=1)]
    return samples if len(samples) else None


def _measured(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("model", "n_params", "n_params_nonembed", "train_seconds", "latency_ms_p50")
    keys += ("latency_ms_p95", "macro_f1", "macro_f1_std", "accuracy", "seeds")
    return {**{key: row.get(key) for key in keys}, "degenerate": bool(row.get("degenerate"))}


def _with_warnings(law: SweepLaw, entry: Mapping[str, Any]) -> SweepLaw:
    """``law`` with a warning for each reason to doubt it (see the module docstring)."""
    fitter = [str(text) for text in entry.get("warnings", [])]
    out = [f"the {law.method} law: {text}" for text in fitter]
    if entry.get("converged") is False:
        out.append(f"the {law.method} law's fit did not converge ({entry.get('message', '')})")
    at_bounds = entry.get("parameters_at_bounds") or []
    if at_bounds and not any("at a bound" in text for text in fitter):
        out.append(f"the {law.method} law has parameters at their bounds: {', '.join(at_bounds)}")
    if law.points < FEW_SIZES and not any(f"only {law.points} points" in t for t in fitter):
        out.append(
            f"the {law.method} law was fitted to {law.points} sizes (3 parameters); its "
            "extrapolation rests on few points"
        )
    degenerate = [row["model"] for row in law.measured if row["degenerate"]]
    if degenerate:
        out.append(
            f"the sweep flagged {law.method} on {', '.join(degenerate)} degenerate; those "
            "rows are not in the law"
        )
    if law.samples is None:
        out.append(
            "the sweep JSON has no bootstrap samples (an earlier scalinglab or --bootstrap 0), "
            "so the predicted scores have no interval; rerun finetune-sweep with --bootstrap 200"
        )
    return replace(law, warnings=tuple(out))
