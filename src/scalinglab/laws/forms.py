"""Functional forms of scaling laws: named parameters with bounds, ``predict``, JSON.

Each form is a small frozen dataclass whose fields are its parameters. The class
attributes say which inputs it needs (``inputs``, names from the runs table: ``N``,
``D``, ``C``, ``unique_tokens``, ``loss``) and the bounds a fit may search
(``bounds``). Forms know nothing about fitting; :mod:`scalinglab.laws.fitter` fits them.

Units: ``N`` parameters, ``D`` tokens, ``C`` FLOPs, loss in nats per token.

>>> law = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
>>> round(float(law.predict(N=70e9, D=1.4e12)), 3)
1.937
>>> law_from_dict(law.to_dict()) == law
True
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np

from scalinglab.errors import ScalingLabError

ArrayLike = float | np.ndarray


@dataclass(frozen=True)
class Bound:
    """Closed interval a fitted parameter must lie in; ``log`` marks scale parameters."""

    lower: float
    upper: float
    log: bool = False


class LawForm:
    """Base of all forms: parameter names, bounds, JSON round trip."""

    form: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]
    bounds: ClassVar[dict[str, Bound]]

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """Names of the parameters, in the order a fitter's vector holds them."""
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    @property
    def params(self) -> dict[str, float]:
        """The parameters as a plain dict of floats."""
        return {k: float(v) for k, v in asdict(self).items()}  # type: ignore[call-overload]

    def to_dict(self) -> dict[str, Any]:
        """``{"form": name, "params": {...}}``, the shape ``law_from_dict`` reads back."""
        return {"form": self.form, "params": self.params}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def predict(self, **inputs: ArrayLike) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

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


def _as_array(value: ArrayLike) -> np.ndarray:
    return np.asarray(value, dtype=float)


@dataclass(frozen=True)
class ChinchillaLaw(LawForm):
    """Hoffmann et al. 2022, approach 3: ``L(N, D) = E + A / N**alpha + B / D**beta``.

    ``E`` is the irreducible loss (nats/token); ``A, alpha`` the parameter term;
    ``B, beta`` the data term.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    form: ClassVar[str] = "chinchilla"
    inputs: ClassVar[tuple[str, ...]] = ("N", "D")
    bounds: ClassVar[dict[str, Bound]] = {
        "E": Bound(1e-3, 20.0, log=True),
        "A": Bound(1e-3, 1e12, log=True),
        "B": Bound(1e-3, 1e12, log=True),
        "alpha": Bound(0.0, 3.0),
        "beta": Bound(0.0, 3.0),
    }

    def predict(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:  # type: ignore[override]
        """Loss in nats/token after training ``N`` parameters on ``D`` tokens."""
        N, D = _as_array(N), _as_array(D)
        return self.E + self.A / N**self.alpha + self.B / D**self.beta

    @property
    def a(self) -> float:
        """Exponent of ``N*(C) ∝ C**a``: ``beta / (alpha + beta)``."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of ``D*(C) ∝ C**b``: ``alpha / (alpha + beta)``."""
        return self.alpha / (self.alpha + self.beta)

    def compute_optimal(
        self, C: ArrayLike, flops_per_param_token: float = 6.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(N*, D*)`` minimising loss at compute ``C = k N D`` FLOPs (``k`` = 6 by default).

        Closed form of Hoffmann et al. 2022 (eq. 4): with ``G = (alpha A / (beta B))**(1 /
        (alpha + beta))``, ``N* = G (C/k)**a`` and ``D* = (C/k)**b / G``.
        """
        C = _as_array(C)
        G = (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))
        budget = C / flops_per_param_token
        return G * budget**self.a, budget**self.b / G


@dataclass(frozen=True)
class PowerLawOffset(LawForm):
    """One-variable law with an offset: ``L(x) = E + A * x**(-alpha)``.

    Used for the compute frontier (x = C), error versus model size (x = N) and any other
    single-input law. ``variable`` in :func:`law_from_dict` is not a parameter; the input
    is passed as ``x``.
    """

    E: float
    A: float
    alpha: float

    form: ClassVar[str] = "power_offset"
    inputs: ClassVar[tuple[str, ...]] = ("x",)
    bounds: ClassVar[dict[str, Bound]] = {
        "E": Bound(0.0, 20.0),
        "A": Bound(1e-6, 1e15, log=True),
        "alpha": Bound(0.0, 3.0),
    }

    def predict(self, x: ArrayLike) -> np.ndarray:  # type: ignore[override]
        return self.E + self.A * _as_array(x) ** (-self.alpha)


@dataclass(frozen=True)
class KaplanN(LawForm):
    """Kaplan et al. 2020, eq. 1.1: ``L(N) = (Nc / N)**alphaN`` (N without embeddings)."""

    Nc: float
    alphaN: float

    form: ClassVar[str] = "kaplan_n"
    inputs: ClassVar[tuple[str, ...]] = ("N",)
    bounds: ClassVar[dict[str, Bound]] = {
        "Nc": Bound(1.0, 1e20, log=True),
        "alphaN": Bound(0.0, 2.0),
    }

    def predict(self, N: ArrayLike) -> np.ndarray:  # type: ignore[override]
        return (self.Nc / _as_array(N)) ** self.alphaN


@dataclass(frozen=True)
class KaplanD(LawForm):
    """Kaplan et al. 2020, eq. 1.2: ``L(D) = (Dc / D)**alphaD``."""

    Dc: float
    alphaD: float

    form: ClassVar[str] = "kaplan_d"
    inputs: ClassVar[tuple[str, ...]] = ("D",)
    bounds: ClassVar[dict[str, Bound]] = {
        "Dc": Bound(1.0, 1e20, log=True),
        "alphaD": Bound(0.0, 2.0),
    }

    def predict(self, D: ArrayLike) -> np.ndarray:  # type: ignore[override]
        return (self.Dc / _as_array(D)) ** self.alphaD


@dataclass(frozen=True)
class KaplanC(LawForm):
    """Kaplan et al. 2020, eq. 1.3: ``L(C) = (Cc / C)**alphaC`` with ``C`` in FLOPs."""

    Cc: float
    alphaC: float

    form: ClassVar[str] = "kaplan_c"
    inputs: ClassVar[tuple[str, ...]] = ("C",)
    bounds: ClassVar[dict[str, Bound]] = {
        "Cc": Bound(1.0, 1e40, log=True),
        "alphaC": Bound(0.0, 2.0),
    }

    def predict(self, C: ArrayLike) -> np.ndarray:  # type: ignore[override]
        return (self.Cc / _as_array(C)) ** self.alphaC


@dataclass(frozen=True)
class KaplanND(LawForm):
    """Kaplan et al. 2020, eq. 1.5: ``L(N, D) = ((Nc/N)**(alphaN/alphaD) + Dc/D)**alphaD``."""

    Nc: float
    Dc: float
    alphaN: float
    alphaD: float

    form: ClassVar[str] = "kaplan_nd"
    inputs: ClassVar[tuple[str, ...]] = ("N", "D")
    bounds: ClassVar[dict[str, Bound]] = {
        "Nc": Bound(1.0, 1e20, log=True),
        "Dc": Bound(1.0, 1e20, log=True),
        "alphaN": Bound(1e-4, 2.0),
        "alphaD": Bound(1e-4, 2.0),
    }

    def predict(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:  # type: ignore[override]
        N, D = _as_array(N), _as_array(D)
        return ((self.Nc / N) ** (self.alphaN / self.alphaD) + self.Dc / D) ** self.alphaD


@dataclass(frozen=True)
class DataConstrainedLaw(LawForm):
    """Muennighoff et al. 2023: Chinchilla's form on effective data and parameters.

    With ``U_D`` unique tokens and ``R_D = D / U_D - 1`` repeats, the effective data is
    ``D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*))``. Parameters beyond ``U_N``, the
    compute-optimal size for ``U_D`` tokens (from this law's own Chinchilla terms), decay
    the same way with ``R_N*``. The loss is ``E + A / N'**alpha + B / D'**beta``.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    rd_star: float
    rn_star: float

    form: ClassVar[str] = "data_constrained"
    inputs: ClassVar[tuple[str, ...]] = ("N", "D", "unique_tokens")
    bounds: ClassVar[dict[str, Bound]] = {
        **ChinchillaLaw.bounds,
        "rd_star": Bound(1e-2, 1e4, log=True),
        "rn_star": Bound(1e-2, 1e4, log=True),
    }

    @property
    def base(self) -> ChinchillaLaw:
        """The Chinchilla terms alone (no repetition)."""
        return ChinchillaLaw(self.E, self.A, self.B, self.alpha, self.beta)

    def unique_params(self, unique_tokens: ArrayLike) -> np.ndarray:
        """``U_N``: the compute-optimal parameter count whose optimal data is ``U_D``."""
        base = self.base
        G = (base.alpha * base.A / (base.beta * base.B)) ** (1.0 / (base.alpha + base.beta))
        return G * (G * _as_array(unique_tokens)) ** (base.beta / base.alpha)

    def effective_data(self, D: ArrayLike, unique_tokens: ArrayLike) -> np.ndarray:
        """``D'``: tokens worth of fresh data that ``D`` tokens over ``U_D`` unique give.

        Less than one epoch sees only ``D`` distinct tokens, so ``U_D = min(unique, D)``.
        """
        D = _as_array(D)
        U = np.minimum(_as_array(unique_tokens), D)
        repeats = D / U - 1.0
        return U + U * self.rd_star * (1.0 - np.exp(-repeats / self.rd_star))

    def effective_params(self, N: ArrayLike, unique_tokens: ArrayLike) -> np.ndarray:
        """``N'``: parameters beyond ``U_N`` count with a decaying value (``R_N*``)."""
        N = _as_array(N)
        U_N = np.minimum(N, self.unique_params(unique_tokens))
        excess = np.maximum(N / U_N - 1.0, 0.0)
        return U_N + U_N * self.rn_star * (1.0 - np.exp(-excess / self.rn_star))

    def predict(  # type: ignore[override]
        self, N: ArrayLike, D: ArrayLike, unique_tokens: ArrayLike
    ) -> np.ndarray:
        return self.base.predict(
            self.effective_params(N, unique_tokens), self.effective_data(D, unique_tokens)
        )


@dataclass(frozen=True)
class TaskLossFromLM(LawForm):
    """Downstream step 1 on LM loss: ``L_task = A * L_lm**alpha`` (monotone, positive)."""

    A: float
    alpha: float

    form: ClassVar[str] = "task_loss_from_lm"
    inputs: ClassVar[tuple[str, ...]] = ("loss",)
    bounds: ClassVar[dict[str, Bound]] = {
        "A": Bound(1e-6, 1e6, log=True),
        "alpha": Bound(0.0, 20.0),
    }

    def predict(self, loss: ArrayLike) -> np.ndarray:  # type: ignore[override]
        return self.A * _as_array(loss) ** self.alpha


@dataclass(frozen=True)
class SigmoidAccuracy(LawForm):
    """Downstream step 2: ``acc(L) = a / (1 + exp(-k (L - L0))) + b``.

    Maps a task loss ``L`` (nats) to accuracy, as in the OLMo ladder (Bhagia et al. 2024)
    and Llama 3 (2024). ``b`` is the chance floor, ``a + b`` the ceiling; ``k < 0`` makes
    accuracy rise as the loss falls.
    """

    a: float
    b: float
    k: float
    L0: float

    form: ClassVar[str] = "sigmoid_accuracy"
    inputs: ClassVar[tuple[str, ...]] = ("task_loss",)
    bounds: ClassVar[dict[str, Bound]] = {
        "a": Bound(0.0, 1.0),
        "b": Bound(0.0, 1.0),
        "k": Bound(-100.0, 0.0),
        "L0": Bound(0.0, 20.0),
    }

    def predict(self, task_loss: ArrayLike) -> np.ndarray:  # type: ignore[override]
        z = -self.k * (_as_array(task_loss) - self.L0)
        return self.a / (1.0 + np.exp(-z)) + self.b


@dataclass(frozen=True)
class DownstreamLaw:
    """Two-step downstream law: task loss from (N, D) or LM loss, then accuracy.

    ``task_loss`` is a :class:`ChinchillaLaw` (inputs N, D) or :class:`TaskLossFromLM`
    (input ``loss``); ``accuracy`` a :class:`SigmoidAccuracy`.
    """

    task_loss: ChinchillaLaw | TaskLossFromLM
    accuracy: SigmoidAccuracy

    form: ClassVar[str] = "downstream"

    def predict(self, **inputs: ArrayLike) -> np.ndarray:
        """Accuracy for the inputs of the task-loss step (``N, D`` or ``loss``)."""
        return self.accuracy.predict(self.task_loss.predict(**inputs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "form": self.form,
            "task_loss": self.task_loss.to_dict(),
            "accuracy": self.accuracy.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


FORMS: dict[str, type[LawForm]] = {
    cls.form: cls
    for cls in (
        ChinchillaLaw,
        PowerLawOffset,
        KaplanN,
        KaplanD,
        KaplanC,
        KaplanND,
        DataConstrainedLaw,
        TaskLossFromLM,
        SigmoidAccuracy,
    )
}


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
