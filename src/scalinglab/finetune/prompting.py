"""Zero-shot and few-shot baselines by prompting, with no gradient step.

Two scorers, chosen by what the checkpoint has:

- **masked-LM cloze** (checkpoints with a trained MLM head, e.g. BERTs written by
  ``scalinglab train`` or ``bert-base-uncased``): the text is wrapped in the template
  ``"{text} It was [MASK]."`` and class ``c`` scores the log-probability of its
  verbaliser word at the mask (``great`` / ``terrible`` / ``okay``, Schick & Schütze 2021).
  *Few-shot* uses contextual calibration (Zhao et al. 2021): the mean score vector over
  ``k`` labelled examples per class is subtracted from every score, which removes the
  template's prior towards one word. (Prepending demonstrations was not chosen: with
  BERT-size contexts of 128-512 tokens it leaves room for only a few tweets and is k
  times slower per prediction.)
- **embedding similarity** (sentence encoders without an MLM head, such as the embedded
  all-MiniLM-L6-v2 whose MLM head was not shipped): class ``c`` scores the cosine
  between the mean-pooled embedding of the text and of ``"It was {verbaliser}."``.
  *Few-shot* replaces each class's prompt embedding by the mean embedding of ``k``
  labelled training examples of the class (nearest centroid).

Scores become probabilities by a softmax (temperature 0.05 for cosines); reported
metrics use the argmax, as for fine-tuned models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from scalinglab.errors import ScalingLabError
from scalinglab.finetune.evaluation import classification_metrics
from scalinglab.finetune.measure import latency_of, throughput_of
from scalinglab.finetune.models import (
    ModelSource,
    has_mlm_head,
    load_encoder,
    load_masked_lm,
    load_tokenizer,
    resolve_model,
)
from scalinglab.finetune.tasks import Split, TaskData

TEMPLATE = "{text} It was {mask}."
VERBALISERS = {"negative": "terrible", "positive": "great", "neutral": "okay"}
COSINE_TEMPERATURE = 0.05


@dataclass
class PromptResult:
    """Metrics and measured costs of one prompting baseline (no trained parameters)."""

    model: str
    method: str
    scorer: str
    shots: int
    n_params: int
    validation: dict[str, Any]
    test: dict[str, Any]
    setup_seconds: float
    latency_ms_p50: float
    latency_ms_p95: float
    throughput_per_s: float


def prompt_baseline(
    model: str,
    task: TaskData,
    shots: int = 0,
    verbalisers: dict[str, str] | None = None,
    max_length: int = 128,
    seed: int = 0,
    latency_repeats: int = 20,
    throughput_batches: int = 2,
) -> PromptResult:
    """Zero-shot (``shots=0``) or ``shots``-per-class few-shot baseline of ``model`` on ``task``."""
    source = resolve_model(model)
    words = _verbalisers(task.labels, verbalisers)
    tokenizer = load_tokenizer(source)
    start = time.perf_counter()
    if has_mlm_head(source):
        scorer: _Scorer = _ClozeScorer(source, tokenizer, words, max_length)
    else:
        scorer = _EmbeddingScorer(source, tokenizer, words, max_length)
    if shots:
        ids = _shots(task.train, shots, seed)
        scorer.adapt(Split([task.train.texts[i] for i in ids], task.train.labels[ids]))
    setup = time.perf_counter() - start
    scores = {}
    for split in ("validation", "test"):
        data = task.split(split)
        predictions = scorer.probabilities(data.texts).argmax(axis=1)
        scores[split] = classification_metrics(data.labels, predictions, task.labels)
    probe = task.test.texts or task.validation.texts
    p50, p95 = latency_of(scorer.probabilities, probe, latency_repeats)
    return PromptResult(
        model=model,
        method="few-shot" if shots else "zero-shot",
        scorer=scorer.name,
        shots=shots,
        n_params=sum(p.numel() for p in scorer.model.parameters()),
        validation=scores["validation"],
        test=scores["test"],
        setup_seconds=setup,
        latency_ms_p50=p50,
        latency_ms_p95=p95,
        throughput_per_s=throughput_of(scorer.probabilities, probe, 64, throughput_batches),
    )


class _Scorer:
    name = ""
    model: Any

    def probabilities(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def adapt(self, shots: Split) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class _ClozeScorer(_Scorer):
    name = "mlm-cloze"

    def __init__(
        self, source: ModelSource, tokenizer: Any, words: list[str], max_length: int
    ) -> None:
        self.model = load_masked_lm(source).eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.word_ids = [_single_token(tokenizer, word) for word in words]
        self.bias = np.zeros(len(words))

    @torch.inference_mode()
    def log_scores(self, texts: list[str]) -> np.ndarray:
        rows = []
        suffix = TEMPLATE.format(text="", mask=self.tokenizer.mask_token)
        for first in range(0, len(texts), 64):
            chunk = texts[first : first + 64]
            # Truncate the text, never the template: the mask must survive.
            room = self.max_length - len(self.tokenizer(suffix)["input_ids"])
            trimmed = [
                self.tokenizer.convert_tokens_to_string(self.tokenizer.tokenize(t)[: max(1, room)])
                for t in chunk
            ]
            batch = self.tokenizer(
                [TEMPLATE.format(text=t, mask=self.tokenizer.mask_token) for t in trimmed],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            logits = self.model(**batch).logits.float()
            rows_, cols = (batch["input_ids"] == self.tokenizer.mask_token_id).nonzero(
                as_tuple=True
            )
            at_mask = torch.log_softmax(logits[rows_, cols], dim=-1)[:, self.word_ids]
            rows.append(at_mask.numpy())
        return np.concatenate(rows) if rows else np.zeros((0, len(self.word_ids)))

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return _softmax(self.log_scores(texts) - self.bias)

    def adapt(self, shots: Split) -> None:
        self.bias = self.log_scores(shots.texts).mean(axis=0)


class _EmbeddingScorer(_Scorer):
    name = "embedding-similarity"

    def __init__(
        self, source: ModelSource, tokenizer: Any, words: list[str], max_length: int
    ) -> None:
        self.model = load_encoder(source).eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.anchors = self.embed([TEMPLATE.format(text="", mask=w).strip() for w in words])

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for first in range(0, len(texts), 64):
            batch = self.tokenizer(
                texts[first : first + 64],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            rows.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(rows)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        cosines = (self.embed(texts) @ self.anchors.T).numpy()
        return _softmax(cosines / COSINE_TEMPERATURE)

    def adapt(self, shots: Split) -> None:
        embedded = self.embed(shots.texts)
        centroids = [
            embedded[torch.as_tensor(shots.labels == c)].mean(0) for c in range(len(self.anchors))
        ]
        self.anchors = torch.nn.functional.normalize(torch.stack(centroids), dim=-1)


def _verbalisers(labels: list[str], given: dict[str, str] | None) -> list[str]:
    table = {**VERBALISERS, **(given or {})}
    missing = [label for label in labels if label not in table and " " in label]
    if missing:
        raise ScalingLabError(
            f"no verbaliser word for labels {', '.join(missing)}; give one word per label"
        )
    return [table.get(label, label) for label in labels]


def _single_token(tokenizer: Any, word: str) -> int:
    ids = tokenizer(word, add_special_tokens=False)["input_ids"]
    if ids == [tokenizer.unk_token_id]:
        raise ScalingLabError(f"verbaliser {word!r} is not in the vocabulary; choose another word")
    if len(ids) != 1:
        raise ScalingLabError(
            f"verbaliser {word!r} is {len(ids)} tokens for this tokenizer; choose a word that "
            "is a single token"
        )
    return int(ids[0])


def _shots(train: Split, shots: int, seed: int) -> np.ndarray:
    """``shots`` random training examples of each class (fewer if a class is smaller)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(train.labels):
        members = np.flatnonzero(train.labels == cls)
        chosen.append(rng.choice(members, size=min(shots, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
