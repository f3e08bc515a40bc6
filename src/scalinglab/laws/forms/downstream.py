"""Downstream laws (OLMo ladder, Llama 3): task loss from LM loss, accuracy from task loss
(a sigmoid), and the two-step :class:`DownstreamLaw`, with their log models."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from scalinglab.laws.forms.base import (
    ArrayLike,
    Bound,
    LawForm,
    as_array,
    product_grid,
    register_form,
)
from scalinglab.laws.forms.chinchilla import ChinchillaLaw
from scalinglab.laws.log_model import AnalyticLogModel, Inputs, LogModel, log_inputs


class TaskLossModel(AnalyticLogModel):
    """``log L_task = a + alpha log L_lm``; internal ``(log A, alpha)``."""

    def prepare(self, data: Mapping[str, np.ndarray]) -> Inputs:
        return log_inputs(data, logx="loss")

    def value_jac(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, np.ndarray]:
        a, alpha = theta[:, 0:1], theta[:, 1:2]
        f = a + alpha * X["logx"]
        J = np.stack([np.ones_like(f), np.broadcast_to(X["logx"], f.shape)], axis=-1)
        return f, J


class SigmoidModel(AnalyticLogModel):
    """``log acc = log(a sigmoid(-k (L - L0)) + b)``; internal ``(a, b, k, L0)``."""

    def value_jac(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, np.ndarray]:
        a, b, k, L0 = (theta[:, i : i + 1] for i in range(4))
        x = X["task_loss"]
        s = 0.5 * (1.0 + np.tanh(-0.5 * k * (x - L0)))
        pred = a * s + b
        slope = a * s * (1.0 - s)
        J = np.stack([s, np.ones_like(s), -slope * (x - L0), slope * k], axis=-1) / pred[..., None]
        return np.log(pred), J


@register_form
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
    log_model_class: ClassVar[type[LogModel]] = TaskLossModel

    @classmethod
    def default_starts(cls, target: np.ndarray) -> np.ndarray:
        return product_grid(np.arange(-3.0, 3.5, 1.0), [0.0, 0.5, 1.0, 2.0, 4.0, 8.0])

    def predict(self, loss: ArrayLike) -> np.ndarray:  # type: ignore[override]
        return self.A * as_array(loss) ** self.alpha


@register_form
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
    log_model_class: ClassVar[type[LogModel]] = SigmoidModel

    @classmethod
    def default_starts(cls, target: np.ndarray) -> np.ndarray:
        """Midpoints ``L0`` at the quartiles of the observed task losses."""
        return product_grid(
            [0.25, 0.5, 0.75],
            [0.0, 0.25, 0.5],
            [-1.0, -5.0, -20.0],
            np.quantile(target, [0.25, 0.5, 0.75]),
        )

    def predict(self, task_loss: ArrayLike) -> np.ndarray:  # type: ignore[override]
        z = -self.k * (as_array(task_loss) - self.L0)
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
