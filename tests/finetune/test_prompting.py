"""Prompting baselines: cloze on a checkpoint with an MLM head, embeddings otherwise."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from scalinglab.errors import ScalingLabError
from scalinglab.finetune.prompting import prompt_baseline
from scalinglab.finetune.tasks import TaskOptions, load_task


def test_cloze_zero_and_few_shot_on_an_mlm_checkpoint(tiny_mlm_dir, toy_csv, tmp_path):
    task = load_task(str(toy_csv(tmp_path / "t.csv")), TaskOptions())
    zero = prompt_baseline(str(tiny_mlm_dir), task, shots=0, max_length=16, latency_repeats=2)
    few = prompt_baseline(str(tiny_mlm_dir), task, shots=4, max_length=16, latency_repeats=2)
    assert zero.scorer == few.scorer == "mlm-cloze"
    assert zero.method == "zero-shot"
    assert few.method == "few-shot"
    assert zero.test["n"] == len(task.test)
    assert 0.0 <= zero.test["macro_f1"] <= 1.0
    assert zero.latency_ms_p50 > 0


def test_embedding_scorer_on_minilm_beats_chance_few_shot():
    task = load_task("tweets-binary", TaskOptions(max_train_examples=200, max_eval_examples=60))
    few = prompt_baseline("minilm-L1", task, shots=8, max_length=48, latency_repeats=2)
    assert few.scorer == "embedding-similarity"
    assert few.test["n"] == 60
    assert np.isfinite(few.test["macro_f1"])


def test_multi_token_verbaliser_is_a_clear_error(tiny_mlm_dir, toy_csv, tmp_path):
    task = load_task(str(toy_csv(tmp_path / "t.csv")), TaskOptions())
    with pytest.raises(ScalingLabError, match="verbaliser"):
        prompt_baseline(str(tiny_mlm_dir), task, verbalisers={"negative": "xylophone"})
