"""End to end on a tiny local BERT directory: finetune, save, reload, continual, prompting."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from scalinglab.finetune.checkpoint import load_classifier  # noqa: E402
from scalinglab.finetune.continual import ContinualOptions, continual_finetune  # noqa: E402
from scalinglab.finetune.run import FinetuneOptions, finetune  # noqa: E402
from scalinglab.finetune.tasks import TaskOptions  # noqa: E402
from scalinglab.finetune.training import FinetuneConfig  # noqa: E402

FAST = FinetuneConfig(epochs=4, batch_size=8, lr=3e-3, max_length=16, progress=False, threads=1)


def _options(model_dir, task, out, method="full", **train):
    return FinetuneOptions(
        model=str(model_dir),
        task=str(task),
        method=method,
        out_dir=str(out),
        train=FinetuneConfig(**{**FAST.__dict__, **train}),
        latency_repeats=3,
        throughput_batches=1,
    )


def test_full_finetune_learns_a_separable_task(tiny_mlm_dir, toy_csv, tmp_path):
    task = toy_csv(tmp_path / "toy.csv")
    result = finetune(_options(tiny_mlm_dir, task, tmp_path / "out"))
    assert result.test["macro_f1"] >= 0.9
    assert result.trainable_params == result.total_params == result.n_params
    assert result.latency_ms_p95 >= result.latency_ms_p50 > 0
    assert result.throughput_per_s > 0
    assert result.size_on_disk_bytes > 0
    data = json.loads((tmp_path / "out" / "result.json").read_text())
    for key in ("test", "validation", "train_seconds", "peak_memory_bytes", "trainable_params"):
        assert key in data
    lines = (tmp_path / "out" / "predictions_test.jsonl").read_text().splitlines()
    assert len(lines) == result.test["n"]
    loaded = load_classifier(tmp_path / "out")
    assert loaded.labels == ["negative", "positive"]
    assert loaded.metadata["method"] == "full"


@pytest.mark.parametrize("method", ["lora", "adapter", "prompt", "bitfit"])
def test_every_method_runs_and_reloads(tiny_mlm_dir, toy_csv, tmp_path, method):
    task = toy_csv(tmp_path / "toy.csv", n_per_class=16)
    result = finetune(_options(tiny_mlm_dir, task, tmp_path / method, method=method, epochs=1))
    assert 0 < result.trainable_params < result.total_params
    loaded = load_classifier(tmp_path / method)
    assert loaded.predict_proba(["it was great"]).shape == (1, 2)


def test_early_stopping_stops_and_restores_best(tiny_mlm_dir, toy_csv, tmp_path):
    task = toy_csv(tmp_path / "toy.csv")
    result = finetune(_options(tiny_mlm_dir, task, tmp_path / "es", lr=1e-9, epochs=6, patience=1))
    training = result.training
    assert training["stopped_early"]
    assert len(training["history"]) < 6
    assert training["best_val_macro_f1"] == max(h["val_macro_f1"] for h in training["history"])


def test_continual_replay_and_plain_report_forgetting(tiny_mlm_dir, toy_csv, tmp_path):
    old = toy_csv(tmp_path / "old.csv")
    first = finetune(_options(tiny_mlm_dir, old, tmp_path / "old"))
    new = toy_csv(tmp_path / "new.csv", seed=1, classes=("neutral", "negative"))
    options = _options(tmp_path / "old", new, tmp_path / "new", epochs=2)
    result = continual_finetune(options, ContinualOptions(str(tmp_path / "old"), strategy="replay"))
    assert result.run.labels == ["negative", "positive", "neutral"]
    before = result.old_test_before
    assert before["accuracy"] == pytest.approx(first.test["accuracy"])
    assert set(result.outcomes) == {"replay", "plain"}
    for outcome in result.outcomes.values():
        assert outcome.forgetting_accuracy == pytest.approx(
            before["accuracy"] - outcome.old_test_after["accuracy"]
        )
    saved = json.loads((tmp_path / "new" / "result.json").read_text())
    assert saved["continual"]["replay"]["forgetting_accuracy"] == pytest.approx(
        result.outcomes["replay"].forgetting_accuracy
    )
    assert load_classifier(tmp_path / "new").labels == ["negative", "positive", "neutral"]


def test_ewc_penalty_is_zero_at_the_anchor_and_grows(tiny_mlm_dir, toy_csv, tmp_path):
    from scalinglab.finetune.continual import ewc_penalty
    from scalinglab.finetune.models import ModelSource, load_sequence_classifier, load_tokenizer
    from scalinglab.finetune.tasks import load_task

    task = load_task(str(toy_csv(tmp_path / "t.csv")), TaskOptions())
    source = ModelSource("tiny", str(tiny_mlm_dir))
    model = load_sequence_classifier(source, task.labels)
    penalty = ewc_penalty(
        model, load_tokenizer(source), task.train, ContinualOptions("x", fisher_examples=8), 16
    )
    assert float(penalty(model).detach()) == 0.0
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1)
    assert float(penalty(model).detach()) > 0.0


def test_resume_from_a_non_classifier_is_a_clear_error(tiny_mlm_dir, toy_csv, tmp_path):
    from scalinglab.errors import ScalingLabError

    task = toy_csv(tmp_path / "t.csv")
    with pytest.raises(ScalingLabError, match=r"no scalinglab\.json"):
        continual_finetune(
            _options(tiny_mlm_dir, task, tmp_path / "x"), ContinualOptions(str(tiny_mlm_dir))
        )
