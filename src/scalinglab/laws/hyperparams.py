"""Laws of the optimal hyperparameters: the best learning rate and batch size of each
run setting, and power laws of how they move with scale (pure numpy, no torch).

Two steps, as in DeepSeek LLM (2024) and Step Law (Li et al. 2025):

1. :func:`optimal_settings` finds, for each group of runs that differ only in one
   hyperparameter (e.g. the learning rates tried at one ``(N, D)``), the value with the
   lowest loss by a parabola in the log of that hyperparameter around the best run
   tried, with a 95% interval from the parabola's coefficients (delta method, residual
   variance pooled over every group). A best value at the edge of the grid tried, or a
   parabola whose minimum lies beyond that edge (a flat side of the curve), is flagged
   ``at_edge`` and left out of the law: the optimum lies outside the grid.
2. :func:`fit_power_law` fits ``value* = c * prod(x_i ** e_i)`` by least squares in
   log space over those optima (``lr*(N, D) = c N^alpha D^beta``, Step Law's form;
   ``B*(C) = c C^gamma``, DeepSeek's), with bootstrap intervals. An input that moves in
   lockstep with another (a ladder at fixed tokens per parameter ties ``D`` to ``N``)
   cannot be told apart from it: the law drops it and says so.

A :class:`Recipe` holds both laws and gives each run of a sweep its learning rate and
batch size; it is written as JSON by ``scalinglab recipe fit`` and read by ``train``,
``sweep`` and ``quickstart`` through ``--recipe FILE``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import InputError, ScalingLabError
from scalinglab.io import atomic_write_json, load_json

#: Two-sided 95% normal quantile, for the intervals of an optimum.
Z95 = 1.959964
#: Points each side of the best run that the parabola of one group uses.
PARABOLA_HALF_WIDTH = 2
#: |correlation| of two log inputs above which a law cannot separate their exponents.
LOCKSTEP_CORRELATION = 0.995


@dataclass(frozen=True)
class Optimum:
    """The best value of one hyperparameter for one group of runs.

    ``value`` is the parabola's minimum (or the best run's value when the parabola opens
    downwards; or, when ``at_edge``, the edge value tried that the best run or the
    parabola's minimum lies at or beyond); ``lower``/``upper`` its 95% interval (NaN when
    no interval can be given); ``loss`` the parabola's loss at ``value`` (nats/token);
    ``tried`` the values run; ``keys`` the group's coordinates (e.g. ``{"N", "D"}``).
    """

    keys: dict[str, float]
    value: float
    lower: float
    upper: float
    loss: float
    tried: tuple[float, ...]
    at_edge: bool
    note: str = ""


@dataclass(frozen=True)
class PowerLaw:
    """``value = coefficient * prod(inputs[k] ** exponents[k])``, fitted in log space.

    ``samples`` are bootstrap draws of ``[log coefficient, *exponents]`` (for
    intervals); ``ranges`` the (min, max) of each input over the data, so a caller can
    say how far past the data a prediction reaches; ``dropped`` the inputs left out
    because they moved in lockstep with another one.
    """

    target: str
    coefficient: float
    exponents: dict[str, float]
    samples: list[list[float]] = field(default_factory=list)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    rmse_log: float = 0.0
    points: int = 0
    dropped: list[str] = field(default_factory=list)

    def predict(self, **inputs: float) -> float:
        """The law's value at ``inputs`` (every fitted input must be given)."""
        log = math.log(self.coefficient)
        for name, exponent in self.exponents.items():
            log += exponent * math.log(_required_input(inputs, name, self.target))
        return math.exp(log)

    def interval(self, level: float = 0.95, **inputs: float) -> tuple[float, float]:
        """Percentile interval of the prediction over the bootstrap samples."""
        if not self.samples:
            return (math.nan, math.nan)
        logs = np.array([math.log(_required_input(inputs, n, self.target)) for n in self.exponents])
        draws = np.asarray(self.samples)
        values = np.exp(draws[:, 0] + draws[:, 1:] @ logs)
        tail = (1.0 - level) / 2.0 * 100.0
        low, high = np.percentile(values, [tail, 100.0 - tail])
        return float(low), float(high)

    def exponent_interval(self, name: str, level: float = 0.95) -> tuple[float, float]:
        """Percentile interval of one exponent over the bootstrap samples."""
        if not self.samples:
            return (math.nan, math.nan)
        column = 1 + list(self.exponents).index(name)
        tail = (1.0 - level) / 2.0 * 100.0
        draws = np.asarray(self.samples)[:, column]
        low, high = np.percentile(draws, [tail, 100.0 - tail])
        return float(low), float(high)

    def decades_past(self, **inputs: float) -> float:
        """How many decades the furthest input lies outside the data's range (0 inside)."""
        past = 0.0
        for name, (low, high) in self.ranges.items():
            if name in inputs:
                x = float(inputs[name])
                past = max(past, math.log10(low / x) if x < low else 0.0)
                past = max(past, math.log10(x / high) if x > high else 0.0)
        return past

    def formula(self) -> str:
        terms = " * ".join(f"{name}^{exp:+.3f}" for name, exp in self.exponents.items())
        return f"{self.target}* = {self.coefficient:.4g}" + (f" * {terms}" if terms else "")


def _required_input(inputs: dict[str, float], name: str, target: str) -> float:
    if name not in inputs:
        raise ScalingLabError(f"the {target} law needs {name}; give it")
    value = float(inputs[name])
    if not value > 0:
        raise ScalingLabError(f"{name} must be positive for the {target} law, got {value}")
    return value


def optimal_settings(
    frame: pd.DataFrame, column: str, keys: Sequence[str], *, loss: str = "loss"
) -> list[Optimum]:
    """The best ``column`` value (e.g. ``"lr"``) of every group of rows sharing ``keys``
    (e.g. ``("N", "D")``), by a parabola of ``loss`` in ``log(column)``.

    Groups with fewer than 3 distinct values tried are an error (no optimum can be
    located); rows with a missing or non-finite loss (diverged runs) are left out.
    """
    missing = [name for name in (column, loss, *keys) if name not in frame.columns]
    if missing:
        raise InputError(
            f"the runs table has no column {missing[0]!r}",
            fix=f"give a table with {', '.join((column, loss, *keys))} "
            "(e.g. `scalinglab runs export` of a sweep with a [grid] axis)",
        )
    data = frame[[*keys, column, loss]].astype(float)
    data = data[np.isfinite(data[loss]) & (data[column] > 0)]
    groups = [
        (dict(zip(keys, np.atleast_1d(key), strict=True)), rows.groupby(column)[loss].min())
        for key, rows in data.groupby(list(keys), sort=True)
    ]
    for coords, curve in groups:
        if len(curve) < 3:
            raise InputError(
                f"{_describe(coords)} has {len(curve)} distinct {column} value(s)",
                fix=f"run at least 3 values of {column} per group (a [grid] axis)",
                column=column,
            )
    fits = [_parabola(curve) for _, curve in groups]
    variance = _pooled_variance(fits)
    return [
        _optimum(coords, curve, fit, variance)
        for (coords, curve), fit in zip(groups, fits, strict=True)
    ]


def _describe(coords: dict[str, float]) -> str:
    return ", ".join(f"{name} = {value:.4g}" for name, value in coords.items())


@dataclass(frozen=True)
class _Parabola:
    best: int  # index of the lowest loss in the curve
    x: np.ndarray  # log values in the window
    design: np.ndarray  # [x^2, x, 1] rows
    coef: np.ndarray  # a, b, c of loss = a x^2 + b x + c
    ssr: float
    dof: int


def _parabola(curve: pd.Series) -> _Parabola:
    """Least-squares parabola through the best run and up to two neighbours each side."""
    values = np.log(curve.index.to_numpy(dtype=float))
    losses = curve.to_numpy(dtype=float)
    best = int(np.argmin(losses))
    start = max(0, min(best - PARABOLA_HALF_WIDTH, len(values) - 3))
    stop = min(len(values), max(best + PARABOLA_HALF_WIDTH + 1, 3))
    x, y = values[start:stop], losses[start:stop]
    design = np.column_stack([x**2, x, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    ssr = float(np.sum((design @ coef - y) ** 2))
    return _Parabola(best, x, design, coef, ssr, len(x) - 3)


def _pooled_variance(fits: list[_Parabola]) -> float:
    """Residual variance of the loss pooled over every group's parabola (NaN when every
    parabola passes exactly through its 3 points: no degree of freedom is left)."""
    dof = sum(fit.dof for fit in fits)
    return sum(fit.ssr for fit in fits) / dof if dof > 0 else math.nan


def _optimum(
    coords: dict[str, float], curve: pd.Series, fit: _Parabola, variance: float
) -> Optimum:
    tried = tuple(float(v) for v in curve.index)
    best_value, best_loss = tried[fit.best], float(curve.iloc[fit.best])
    if fit.best in (0, len(tried) - 1):
        side = "smallest" if fit.best == 0 else "largest"
        note = f"best at the {side} value tried: widen the grid"
        return Optimum(coords, best_value, math.nan, math.nan, best_loss, tried, True, note)
    a, b, c = fit.coef
    if a <= 0:
        note = "losses do not curve upwards around the best value: no parabola minimum"
        return Optimum(coords, best_value, math.nan, math.nan, best_loss, tried, False, note)
    x_star = -b / (2 * a)
    if not math.log(tried[0]) <= x_star <= math.log(tried[-1]):
        side = "smallest" if x_star < math.log(tried[0]) else "largest"
        edge = tried[0] if side == "smallest" else tried[-1]
        note = f"the parabola's minimum lies beyond the {side} value tried: widen the grid"
        loss = float(curve.loc[edge])
        return Optimum(coords, edge, math.nan, math.nan, loss, tried, True, note)
    low, high = _delta_interval(fit, a, b, x_star, variance)
    note = "" if math.isfinite(low) else "no interval: give 4+ values around the best"
    return Optimum(
        coords, math.exp(x_star), low, high, float(c - b * b / (4 * a)), tried, False, note
    )


def _delta_interval(
    fit: _Parabola, a: float, b: float, x_star: float, variance: float
) -> tuple[float, float]:
    """95% interval of ``exp(-b / 2a)`` from the coefficients' covariance."""
    if not math.isfinite(variance):
        return (math.nan, math.nan)
    covariance = variance * np.linalg.pinv(fit.design.T @ fit.design)
    gradient = np.array([b / (2 * a * a), -1 / (2 * a), 0.0])
    spread = math.sqrt(max(float(gradient @ covariance @ gradient), 0.0))
    return math.exp(x_star - Z95 * spread), math.exp(x_star + Z95 * spread)


def located_optima(optima: Sequence[Optimum]) -> list[Optimum]:
    """The optima inside their grids with a value: the ones a law is fitted to."""
    return [o for o in optima if not o.at_edge and math.isfinite(o.value)]


def fit_power_law(
    optima: Sequence[Optimum],
    target: str,
    inputs: Sequence[str],
    *,
    bootstrap: int = 1000,
    seed: int = 0,
) -> tuple[PowerLaw, list[str]]:
    """``target* = c * prod(input ** exponent)`` over the optima not at a grid edge, by
    least squares in log space. Intervals come from a parametric bootstrap on the same
    optima: each resample moves every optimum by a normal draw in log space whose
    variance is that optimum's own (from its 95% interval) plus any scatter about the
    law beyond those (the residual variance in excess of their mean), and refits. So the
    law's band carries how poorly each optimum is located: resampling three optima
    alone gave bands narrower than any one optimum's interval.

    With no ``inputs`` the law is one value, the geometric mean of the optima.

    Returns the law and its warnings (optima left out, inputs dropped as lockstep).
    Needs at least 3 usable optima at 3 distinct values of each kept input.
    """
    usable = located_optima(optima)
    warnings = [
        f"{target} optimum at {_describe(o.keys)} left out: {o.note}"
        for o in optima
        if o not in usable
    ]
    if len(usable) < 3:
        raise ScalingLabError(
            f"the {target} law needs 3 or more optima inside their grids; {len(usable)} "
            f"usable of {len(optima)} (the others at a grid edge or unlocated)"
        )
    logs = {name: np.log([o.keys[name] for o in usable]) for name in inputs}
    kept, dropped = _identifiable(logs, target)
    warnings += dropped[1]
    for name in kept:
        distinct = len(np.unique(logs[name]))
        if distinct < 3:
            raise ScalingLabError(
                f"the {target} law needs optima at 3 or more distinct {name}; "
                f"{distinct} usable (after {len(optima) - len(usable)} left out at the grid edge)"
            )
    X = np.column_stack([np.ones(len(usable)), *(logs[name] for name in kept)])
    y = np.log([o.value for o in usable])
    coef = _least_squares(X, y)
    samples = _parametric_bootstrap(X, y, coef, log_sd(usable), bootstrap, seed)
    law = PowerLaw(
        target=target,
        coefficient=float(math.exp(coef[0])),
        exponents={name: float(e) for name, e in zip(kept, coef[1:], strict=True)},
        samples=samples,
        ranges={n: (float(np.exp(logs[n].min())), float(np.exp(logs[n].max()))) for n in kept},
        rmse_log=float(np.sqrt(np.mean((X @ coef - y) ** 2))),
        points=len(usable),
        dropped=dropped[0],
    )
    return law, warnings


def _parametric_bootstrap(
    X: np.ndarray, y: np.ndarray, coef: np.ndarray, sd: np.ndarray, draws: int, seed: int
) -> list[list[float]]:
    """Least-squares refits of ``X`` to the fitted values plus normal noise of each
    point's own ``sd`` and the residual scatter beyond it (see :func:`fit_power_law`)."""
    fitted = X @ coef
    residual = y - fitted
    scatter = float(residual @ residual) / max(len(y) - X.shape[1], 1)
    scale = np.sqrt(sd**2 + max(0.0, scatter - float(np.mean(sd**2))))
    rng = np.random.default_rng(seed)
    return [_least_squares(X, fitted + rng.normal(0.0, scale)).tolist() for _ in range(draws)]


def log_sd(optima: Sequence[Optimum]) -> np.ndarray:
    """Each optimum's standard deviation in log space, from its 95% interval
    (``exp(log value +- Z95 sd)``); an optimum without a finite interval gets the widest
    one of the others (0 when none has one)."""
    sd = np.array([_interval_sd(o.lower, o.upper) for o in optima])
    finite = sd[np.isfinite(sd)]
    return np.where(np.isfinite(sd), sd, finite.max() if finite.size else 0.0)


def _interval_sd(lower: float, upper: float) -> float:
    if not 0 < lower <= upper < math.inf:
        return math.nan
    return (math.log(upper) - math.log(lower)) / (2 * Z95)


def _identifiable(
    logs: dict[str, np.ndarray], target: str
) -> tuple[list[str], tuple[list[str], list[str]]]:
    """Inputs whose exponents the data can separate; a later input that moves in lockstep
    with an earlier one (or does not move) is dropped with a warning."""
    kept: list[str] = []
    dropped: list[str] = []
    warnings: list[str] = []
    for name, values in logs.items():
        if np.ptp(values) == 0:
            dropped.append(name)
            warnings.append(f"{name} does not vary: the {target} law leaves it out")
            continue
        partner = next(
            (k for k in kept if abs(np.corrcoef(logs[k], values)[0, 1]) > LOCKSTEP_CORRELATION),
            None,
        )
        if partner is not None:
            dropped.append(name)
            warnings.append(
                f"{name} moves in lockstep with {partner}: their exponents cannot be told "
                f"apart, so the {target} law uses {partner} alone"
            )
            continue
        kept.append(name)
    return kept, (dropped, warnings)


def _least_squares(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return coef


@dataclass
class Recipe:
    """Hyperparameter laws for every run of a ladder: ``lr`` as a law of ``N`` (non-
    embedding parameters) and ``D`` (tokens), ``batch_tokens`` as a law of ``C``
    (training FLOPs), either may be absent. ``source`` says where the laws came from."""

    lr: PowerLaw | None = None
    batch_tokens: PowerLaw | None = None
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    def learning_rate(self, n_params_nonembed: float, tokens: float) -> float | None:
        """The recipe's peak learning rate for a run of ``N`` and ``D`` (None: no law)."""
        if self.lr is None:
            return None
        return self.lr.predict(N=n_params_nonembed, D=tokens)

    def batch_size(self, flops: float, n_ctx: int) -> int | None:
        """The recipe's global batch in sequences of ``n_ctx`` tokens (None: no law)."""
        if self.batch_tokens is None:
            return None
        return max(1, round(self.batch_tokens.predict(C=flops) / n_ctx))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "scalinglab-recipe/1",
            "source": self.source,
            "warnings": list(self.warnings),
            "lr": None if self.lr is None else asdict(self.lr),
            "batch_tokens": None if self.batch_tokens is None else asdict(self.batch_tokens),
        }

    def write(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> Recipe:
        """Load a recipe JSON; a missing or malformed file is a one-line error."""
        fix = "give the file that `scalinglab recipe fit --out` wrote"
        data = load_json(path, what="recipe file", fix=fix)
        if not isinstance(data, dict) or data.get("format") != "scalinglab-recipe/1":
            raise InputError(
                "not a scalinglab recipe (no format scalinglab-recipe/1)",
                fix=fix,
                file=str(path),
            )
        return cls(
            lr=_law_from_dict(data.get("lr")),
            batch_tokens=_law_from_dict(data.get("batch_tokens")),
            source=str(data.get("source", "")),
            warnings=list(data.get("warnings", [])),
        )


def _law_from_dict(data: dict[str, Any] | None) -> PowerLaw | None:
    if not data:
        return None
    return PowerLaw(
        target=data["target"],
        coefficient=float(data["coefficient"]),
        exponents={k: float(v) for k, v in data["exponents"].items()},
        samples=[list(map(float, s)) for s in data.get("samples", [])],
        ranges={k: (float(v[0]), float(v[1])) for k, v in data.get("ranges", {}).items()},
        rmse_log=float(data.get("rmse_log", 0.0)),
        points=int(data.get("points", 0)),
        dropped=list(data.get("dropped", [])),
    )


@dataclass
class RecipeFit:
    """What ``scalinglab recipe fit`` found: the optima per group and the recipe."""

    recipe: Recipe
    lr_optima: list[Optimum] = field(default_factory=list)
    batch_optima: list[Optimum] = field(default_factory=list)


def fit_recipe(
    frame: pd.DataFrame,
    *,
    lr_column: str | None = "lr",
    batch_column: str | None = None,
    n_ctx: int | None = None,
    bootstrap: int = 1000,
    source: str = "",
    lr_inputs: Sequence[str] = ("N", "D"),
) -> RecipeFit:
    """Fit ``lr*(N, D)`` from the runs that differ in ``lr_column`` at each ``(N, D)``,
    and ``B*(C)`` (tokens) from those that differ in ``batch_column`` at each ``C``
    (``n_ctx`` converts a batch in sequences to tokens; a ``batch_tokens`` column is
    used as it is). Either column may be None to skip that law. ``lr_inputs`` are the
    inputs of the lr law; none (``()``) fits one rate for every run, the geometric mean
    of the optima: what muP promises when the runs differ in width."""
    if lr_column is None and batch_column is None:
        raise ScalingLabError("fit at least one law: give an lr column or a batch column")
    result = RecipeFit(Recipe(source=source))
    if lr_column is not None:
        result.lr_optima = optimal_settings(frame, lr_column, ("N", "D"))
        result.recipe.lr, warnings = fit_power_law(
            result.lr_optima, "lr", lr_inputs, bootstrap=bootstrap
        )
        result.recipe.warnings += warnings
    if batch_column is not None:
        tokens = _batch_tokens(frame, batch_column, n_ctx)
        result.batch_optima = optimal_settings(tokens, "batch_tokens", ("C",))
        result.recipe.batch_tokens, warnings = fit_power_law(
            result.batch_optima, "batch_tokens", ("C",), bootstrap=bootstrap
        )
        result.recipe.warnings += warnings
    return result


def _batch_tokens(frame: pd.DataFrame, column: str, n_ctx: int | None) -> pd.DataFrame:
    out = frame.copy()
    if column == "batch_tokens":
        return out
    if column not in frame.columns:
        raise InputError(f"the runs table has no column {column!r}", fix="name the batch column")
    context = out["n_ctx"] if "n_ctx" in out.columns and n_ctx is None else n_ctx
    if context is None:
        raise ScalingLabError(
            f"{column} counts sequences: give n_ctx (tokens per sequence) to turn it into tokens"
        )
    out["batch_tokens"] = out[column].astype(float) * context
    return out


def fit_recipe_file(path: str | Path, **options: Any) -> RecipeFit:
    """:func:`fit_recipe` on a runs table file (CSV, TSV, JSONL or Parquet) read with
    the same validation as ``scalinglab fit``; ``options`` as for :func:`fit_recipe`."""
    from scalinglab.laws.runs_table import read_runs_table

    table = read_runs_table(path)
    return fit_recipe(table.df, source=str(path), **options)
