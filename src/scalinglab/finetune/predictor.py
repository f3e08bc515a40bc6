"""Predict labels and class probabilities for new texts with a saved classifier.

A :class:`Predictor` wraps one classifier directory written by
:func:`scalinglab.finetune.checkpoint.save_classifier`. It is shared by
``scalinglab predict`` and by the HTTP server (:mod:`scalinglab.serve.app`), which is why
it lives beside the checkpoint format rather than in ``serve``: predicting needs torch and
the checkpoint, not FastAPI.

Every call returns exactly one :class:`Prediction` per input text, in input order, with
the full label string and a probability for every label. Texts longer than the model's
``max_length`` tokens are cut to that many tokens before the forward pass (the model cannot
read more); the prediction itself is never cut.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scalinglab.errors import ScalingLabError
from scalinglab.finetune.checkpoint import load_classifier


@dataclass(frozen=True)
class Prediction:
    """The predicted label of one text and the probability of every label.

    ``probabilities`` maps each label to its softmax probability (they sum to 1) in the
    model's label order; ``label`` is the most probable one.
    """

    label: str
    probabilities: dict[str, float]

    @property
    def score(self) -> float:
        """Probability of the predicted label."""
        return self.probabilities[self.label]


class Predictor:
    """A loaded classifier that predicts in batches; safe to share between threads.

    ``num_threads`` sets torch's intra-op thread count for the whole process (torch has
    one global setting); ``None`` leaves it as it is. Forward passes are serialised by a
    lock: the fast tokenizer and the model are not safe to call concurrently, and
    concurrent CPU forward passes would only compete for the same cores.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        device: str = "cpu",
        num_threads: int | None = None,
    ) -> None:
        if num_threads is not None:
            if num_threads < 1:
                raise ScalingLabError(f"threads must be at least 1, got {num_threads}")
            torch.set_num_threads(num_threads)
        self.model_dir = Path(model_dir)
        self._classifier = load_classifier(self.model_dir, device=device)
        self.labels: list[str] = list(self._classifier.labels)
        self.metadata: dict = dict(self._classifier.metadata)
        self.max_length: int = int(self._classifier.max_length)
        self.device: str = str(self._classifier.device)
        self._lock = threading.Lock()

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Prediction]:
        """Predict every text; one :class:`Prediction` per text, in input order."""
        return [self._prediction(row) for row in self.predict_proba(texts, batch_size)]

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities, shape ``(len(texts), len(labels))``: rows in input order.

        Texts are sorted by length into batches of at most ``batch_size`` so that padding
        stays small, then put back in input order.
        """
        texts = _checked_texts(texts)
        if batch_size < 1:
            raise ScalingLabError(f"batch size must be at least 1, got {batch_size}")
        order = np.argsort([len(text) for text in texts], kind="stable")
        with self._lock:
            by_length = self._classifier.predict_proba(
                [texts[i] for i in order], batch_size=batch_size
            )
        probabilities = np.empty_like(by_length)
        probabilities[order] = by_length
        return probabilities

    def _prediction(self, row: np.ndarray) -> Prediction:
        return Prediction(
            label=self.labels[int(np.argmax(row))],
            probabilities={label: float(p) for label, p in zip(self.labels, row, strict=True)},
        )


def _checked_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise ScalingLabError("pass a list of texts, not one string")
    texts = list(texts)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise ScalingLabError(
                f"text {index} is a {type(text).__name__}, not a string; pass strings only"
            )
    return texts
