"""Degeneracy: one-class predictions and scores below a baseline are flagged, with reasons."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.finetune.results import degeneracy_reasons, headline, majority_baseline
from scalinglab.finetune.tasks import Split

LABELS = ["negative", "positive"]


def test_predicting_one_class_is_degenerate():
    gold = np.array([0, 0, 0, 1, 1])
    reasons = degeneracy_reasons({"macro_f1": 0.375}, np.zeros(5, int), gold, LABELS, {})
    assert reasons == ["predicts only 'negative' on the test split"]


def test_a_score_below_a_baseline_is_degenerate_and_a_good_run_is_not():
    gold = np.array([0, 1, 0, 1])
    predictions = np.array([0, 1, 1, 0])
    low = degeneracy_reasons({"macro_f1": 0.5}, predictions, gold, LABELS, {"zero-shot": 0.6})
    assert len(low) == 1
    assert "below the zero-shot baseline's 0.6000" in low[0]
    assert (
        degeneracy_reasons({"macro_f1": 0.7}, predictions, gold, LABELS, {"zero-shot": 0.6}) == []
    )


def test_one_class_gold_with_one_class_predictions_is_not_flagged():
    gold = np.zeros(3, int)
    assert degeneracy_reasons({"macro_f1": 1.0}, np.zeros(3, int), gold, LABELS, {}) == []


def test_majority_baseline_predicts_the_most_common_training_class():
    train = Split(["a"] * 5, np.array([1, 1, 1, 0, 0]))
    test = Split(["b"] * 4, np.array([1, 1, 1, 0]))
    metrics = majority_baseline(train, test, LABELS)
    # always "positive" on 3 positive + 1 negative: F1(pos) = 2*0.75*1/1.75, F1(neg) = 0
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["macro_f1"] == pytest.approx((2 * 0.75 / 1.75) / 2)


def test_headline_keeps_the_printed_metrics():
    metrics = {"accuracy": 0.9, "macro_f1": 0.8, "weighted_f1": 0.85, "n": 10, "report": "x"}
    assert headline(metrics) == {"accuracy": 0.9, "macro_f1": 0.8, "weighted_f1": 0.85, "n": 10}
