"""What every law form is: named parameters with bounds, a log model, start grids, hooks.

A form is a frozen dataclass whose fields are its parameters, decorated with
:func:`register_form` so that :data:`FORMS` (and with it ``fit_law``, the bootstrap,
JSON round trips and the CLI) knows it by its ``form`` name. In one place it declares:

* ``form``, ``inputs`` (names from the runs table: ``N``, ``D``, ``C``,
  ``unique_tokens``, ``loss``, ...), ``bounds`` (a :class:`Bound` per parameter) and
  :meth:`LawForm.predict` (the formula);
* ``log_model_class``: its :class:`~scalinglab.laws.log_model.LogModel` (the default
  takes finite differences of ``predict``; analytic derivatives are a subclass);
* :meth:`LawForm.default_starts`: its multi-start grid in internal coordinates (the
  default spreads four values over each parameter's bounds);
* hooks for plots and plans: :meth:`LawForm.frontier` (``L*(C)``),
  :meth:`LawForm.plans` and :meth:`LawForm.loss_nd` (loss of ``N`` parameters on ``D``
  fresh tokens) and
  :meth:`LawForm.chinchilla_terms` (the closed-form allocation, when it has one).

Units: ``N`` parameters, ``D`` tokens, ``C`` FLOPs, loss in nats per token.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from scalinglab.laws.frontier import TokenCost, optimal_loss
from scalinglab.laws.log_model import LogModel

if TYPE_CHECKING:
    from scalinglab.laws.forms.chinchilla import ChinchillaLaw

ArrayLike = float | np.ndarray


@dataclass(frozen=True)
class Bound:
    """Closed interval a fitted parameter must lie in; ``log`` marks scale parameters."""

    lower: float
    upper: float
    log: bool = False


class LawForm:
    """Base of all forms: parameter names, bounds, JSON round trip, fitting and plot hooks."""

    form: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]
    bounds: ClassVar[dict[str, Bound]]
    log_model_class: ClassVar[type[LogModel]] = LogModel

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """Names of the parameters, in the order a fitter's vector holds them."""
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    @classmethod
    def log_model(cls) -> LogModel:
        """The log-space model the fitter searches (see :mod:`scalinglab.laws.log_model`)."""
        return cls.log_model_class(cls)

    @classmethod
    def default_starts(cls, target: np.ndarray) -> np.ndarray:
        """Multi-start grid in internal coordinates (``starts x params``).

        ``target``: the values being fitted (forms with an offset place it below them).
        The default: four values inside each parameter's bounds (logs for scale ones).
        """
        axes = []
        for name in cls.parameter_names():
            bound = cls.bounds[name]
            lower, upper = bound.lower, bound.upper
            if bound.log:
                lower, upper = math.log(lower), math.log(upper)
            axes.append(np.linspace(lower, upper, 6)[1:-1])
        return product_grid(*axes)

    @property
    def params(self) -> dict[str, float]:
        """The parameters as a plain dict of floats."""
        return {k: float(v) for k, v in asdict(self).items()}  # type: ignore[call-overload]

    def values(self) -> tuple[Any, ...]:
        """The parameters in order, as stored (floats, or arrays of samples)."""
        return tuple(getattr(self, name) for name in self.parameter_names())

    def to_dict(self) -> dict[str, Any]:
        """``{"form": name, "params": {...}}``, the shape ``law_from_dict`` reads back."""
        return {"form": self.form, "params": self.params}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def predict(self, **inputs: ArrayLike) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def frontier(self, C: np.ndarray, cost: TokenCost) -> np.ndarray | None:
        """Loss along the compute-optimal frontier at ``C`` FLOPs, ``None`` if none.

        The default: a form of ``N`` and ``D`` is minimised over ``N`` with ``D = C /
        cost(N)`` (:func:`scalinglab.laws.frontier.optimal_loss`); other forms have none.
        """
        if self.inputs != ("N", "D"):
            return None
        return optimal_loss(lambda N, D: self.predict(N=N, D=D), C, cost)

    @classmethod
    def plans(cls) -> bool:
        """Whether the form predicts loss from ``N`` and ``D`` (:meth:`loss_nd`), which
        ``scalinglab plan`` needs of a law. The default: forms of exactly ``N, D``."""
        return cls.inputs == ("N", "D")

    def loss_nd(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:
        """Loss of ``N`` parameters trained on ``D`` fresh tokens (forms that :meth:`plans`)."""
        return self.predict(N=N, D=D)

    def chinchilla_terms(self) -> ChinchillaLaw | None:
        """The law's ``E + A/N^alpha + B/D^beta`` terms (closed-form allocation), or None."""
        return None

    def parameters_at_bounds(self, rtol: float = 1e-6) -> list[str]:
        """Names of parameters sitting on a bound of ``bounds`` (a sign of a poor fit)."""
        hits = []
        for name, value in self.params.items():
            bound = self.bounds[name]
            lower, upper, x = bound.lower, bound.upper, value
            if bound.log:  # scale parameters: compare on the log scale the fitter searches
                lower, upper, x = math.log(lower), math.log(upper), math.log(max(value, 1e-300))
            span = abs(upper - lower)
            if abs(x - lower) <= rtol * span or abs(x - upper) <= rtol * span:
                hits.append(name)
        return hits


#: Every registered form by name (filled by :func:`register_form`).
FORMS: dict[str, type[LawForm]] = {}

Form = TypeVar("Form", bound=type[LawForm])


def register_form(cls: Form) -> Form:
    """Class decorator: make ``cls`` known under ``cls.form`` (names are unique)."""
    if cls.form in FORMS and FORMS[cls.form] is not cls:
        raise ValueError(f"law form {cls.form!r} is already registered")
    missing = set(cls.parameter_names()) ^ set(cls.bounds)
    if missing:
        raise ValueError(f"law form {cls.form!r}: bounds and parameters differ on {missing}")
    FORMS[cls.form] = cls
    return cls


def as_array(value: ArrayLike) -> np.ndarray:
    """``value`` as a float array."""
    return np.asarray(value, dtype=float)


def product_grid(*axes: Sequence[float]) -> np.ndarray:
    """Every combination of the axes' values, one row per start."""
    return np.array(list(itertools.product(*axes)), dtype=float)


def starts_from(
    form: type[LawForm], starts: Mapping[str, float] | LawForm | np.ndarray | Sequence
) -> np.ndarray:
    """Natural-parameter starts (a dict, a law, or an array ``starts x params``) as an array."""
    names = form.parameter_names()
    if isinstance(starts, LawForm):
        starts = starts.params
    if isinstance(starts, Mapping):
        return np.array([[float(starts[name]) for name in names]])
    array = np.atleast_2d(np.asarray(starts, dtype=float))
    if array.shape[1] != len(names):
        raise ValueError(f"starts need {len(names)} columns ({', '.join(names)})")
    return array
