"""Metrics match scikit-learn's definitions; predictions align with every example."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from scalinglab.finetune.evaluation import (
    EvalResult,
    classification_metrics,
    evaluate,
    write_predictions,
)
from scalinglab.finetune.tasks import Split


def test_metrics_by_hand():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 0])
    m = classification_metrics(y_true, y_pred, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    # F1: a = 2*(2/3*2/3)/(4/3) = 2/3; b = 2*(2/3*1)/(5/3) = 0.8; c = 0
    assert m["per_class"]["a"]["f1"] == pytest.approx(2 / 3)
    assert m["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert m["per_class"]["c"]["f1"] == 0.0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 3)
    assert m["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 0.8) / 6)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert "macro avg" in m["report"]


def test_length_mismatch_is_never_truncated():
    with pytest.raises(ValueError, match="predictions for"):
        classification_metrics(np.array([0, 1, 1]), np.array([0, 1]), ["a", "b"])


def test_evaluate_scores_every_example_in_order(tiny_bert, tiny_tokenizer, tmp_path):
    texts = ["it was great", "bad", "the car was a terrible ride it was awful", "love"] * 5
    split = Split(texts, np.array([1, 0, 0, 1] * 5))
    result = evaluate(tiny_bert, tiny_tokenizer, split, ["negative", "positive"], 32, 3)
    assert result.probabilities.shape == (20, 2)
    # length-sorted batching must not reorder: identical texts get identical rows
    np.testing.assert_allclose(result.probabilities[0], result.probabilities[4], atol=1e-5)
    path = write_predictions(tmp_path / "p.jsonl", split, result, ["negative", "positive"])
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 20
    assert lines[2]["text"] == texts[2]
    assert lines[2]["label"] == "negative"
    assert set(lines[0]["probabilities"]) == {"negative", "positive"}


def test_write_predictions_refuses_misaligned(tmp_path):
    split = Split(["a", "b"], np.array([0, 1]))
    short = EvalResult({}, np.array([0]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="align"):
        write_predictions(tmp_path / "p.jsonl", split, short, ["x", "y"])


def test_macro_f1_averages_the_classes_present_in_the_split_with_a_note():
    from scalinglab.finetune.evaluation import classification_metrics

    labels = ["negative", "positive", "neutral"]
    metrics = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 2]), labels)
    # by hand: F1(negative) = 2*1*0.5/1.5 = 2/3, F1(positive) = 0.5, neutral absent (F1 0)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert metrics["macro_f1_all_labels"] == pytest.approx((2 / 3 + 0.5) / 3)
    assert "no example of neutral" in metrics["note"]
    full = classification_metrics(np.array([0, 1, 2]), np.array([0, 1, 2]), labels)
    assert "note" not in full
    assert full["macro_f1"] == 1.0
