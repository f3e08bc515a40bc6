"""Predictor: one prediction per text, in input order, full labels, thread-safe."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.finetune.checkpoint import save_classifier
from scalinglab.finetune.predictor import Prediction, Predictor

torch = pytest.importorskip("torch")

TEXTS = [
    "good",
    "the car was terrible and the ride was awful awful awful",
    "",
    "happy love",
    "sad hate bad it was the a car ride " * 20,
    "great",
]


@pytest.fixture(scope="module")
def predictor(tmp_path_factory, tiny_tokenizer):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(1)
    labels = ["negative", "positive", "neutral-but-longer"]
    config = BertConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=3,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():  # spread the probabilities so that texts are told apart
        model.classifier.weight.mul_(200)
    directory = tmp_path_factory.mktemp("predictor") / "model"
    save_classifier(model, tiny_tokenizer, directory, {"method": "full", "max_length": 24})
    return Predictor(directory)


def test_one_prediction_per_text_in_input_order(predictor):
    together = predictor.predict(TEXTS, batch_size=4)
    alone = [predictor.predict([text])[0] for text in TEXTS]
    assert len(together) == len(TEXTS)
    for joint, single in zip(together, alone, strict=True):
        assert joint.label == single.label
        assert joint.probabilities == pytest.approx(single.probabilities, abs=1e-5)
    assert len({round(p.probabilities["negative"], 4) for p in together}) > 3


def test_probabilities_cover_every_label_and_sum_to_one(predictor):
    for prediction in predictor.predict(TEXTS):
        assert isinstance(prediction, Prediction)
        assert list(prediction.probabilities) == ["negative", "positive", "neutral-but-longer"]
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert prediction.label == max(prediction.probabilities, key=prediction.probabilities.get)
        assert prediction.score == prediction.probabilities[prediction.label]


def test_labels_are_never_truncated(predictor):
    probabilities = predictor.predict_proba(TEXTS)
    labels = {p.label for p in predictor.predict(TEXTS)}
    assert labels <= set(predictor.labels)
    assert probabilities.shape == (len(TEXTS), 3)


def test_batch_size_does_not_change_results(predictor):
    one = predictor.predict_proba(TEXTS, batch_size=1)
    all_at_once = predictor.predict_proba(TEXTS, batch_size=64)
    np.testing.assert_allclose(one, all_at_once, atol=1e-5)


def test_text_longer_than_max_length_gets_a_prediction(predictor):
    (prediction,) = predictor.predict(["car " * 500])
    assert prediction.label in predictor.labels


def test_no_texts_give_no_predictions(predictor):
    assert predictor.predict([]) == []


@pytest.mark.parametrize(
    ("texts", "message"),
    [("one string", "list of texts"), (["ok", 3], "text 1 is a int")],
)
def test_non_string_input_is_a_user_error(predictor, texts, message):
    with pytest.raises(ScalingLabError, match=message):
        predictor.predict(texts)


def test_bad_batch_size_is_a_user_error(predictor):
    with pytest.raises(ScalingLabError, match="batch size"):
        predictor.predict(["good"], batch_size=0)


def test_concurrent_threads_get_their_own_results(predictor):
    expected = predictor.predict_proba(TEXTS)
    results: dict[int, np.ndarray] = {}

    def work(shift: int) -> None:
        rotated = TEXTS[shift:] + TEXTS[:shift]
        results[shift] = np.roll(predictor.predict_proba(rotated, batch_size=2), shift, axis=0)

    threads = [threading.Thread(target=work, args=(shift,)) for shift in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for shift in range(4):
        np.testing.assert_allclose(results[shift], expected, atol=1e-5)


def test_missing_directory_is_a_user_error(tmp_path):
    with pytest.raises(ScalingLabError, match="not a scalinglab classifier"):
        Predictor(tmp_path / "nowhere")


def test_num_threads_sets_torch_threads(predictor):
    before = torch.get_num_threads()
    try:
        Predictor(predictor.model_dir, num_threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ScalingLabError, match="threads"):
        Predictor(predictor.model_dir, num_threads=0)
