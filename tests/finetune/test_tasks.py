"""Tasks: the embedded tweets, files with clear errors, deterministic stratified splits."""

from __future__ import annotations

import csv
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.errors import InputError, ScalingLabError
from scalinglab.finetune.tasks import (
    TaskOptions,
    load_task,
    split_task,
    stratified_subsample,
    tweets_file,
)


def test_embedded_tweets_have_the_documented_counts():
    with tweets_file().open(encoding="mac_roman", newline="") as handle:
        counts = Counter(row["sentiment"] for row in csv.DictReader(handle))
    assert counts == {"negative": 16186, "positive": 6954, "neutral": 15018}


def test_tweets_binary_split_is_stratified_and_disjoint():
    task = load_task("tweets-binary")
    assert task.labels == ["negative", "positive"]
    counts = task.class_counts()
    total = sum(sum(c.values()) for c in counts.values())
    assert total == 16186 + 6954 - 328  # exact duplicate texts dropped
    assert counts["test"]["negative"] == pytest.approx(0.1 * 15984, abs=2)
    texts = [set(task.split(s).texts) for s in ("train", "validation", "test")]
    assert not (texts[0] & texts[2])
    assert not (texts[0] & texts[1])


def test_three_class_labels_and_subsample():
    task = load_task("tweets-3class", TaskOptions(max_train_examples=300, max_eval_examples=90))
    assert task.labels == ["negative", "positive", "neutral"]
    assert len(task.train) == 300
    assert len(task.test) == 90
    assert set(task.train.labels.tolist()) == {0, 1, 2}


def test_split_is_deterministic_per_seed():
    a = load_task("tweets-binary", TaskOptions(max_train_examples=50, seed=3))
    b = load_task("tweets-binary", TaskOptions(max_train_examples=50, seed=3))
    c = load_task("tweets-binary", TaskOptions(max_train_examples=50, seed=4))
    assert a.train.texts == b.train.texts
    assert a.train.texts != c.train.texts


def test_csv_task_with_custom_columns(tmp_path):
    path = tmp_path / "t.csv"
    rows = [f"{'good' if i % 2 else 'bad'} text {i},{'pos' if i % 2 else 'neg'}" for i in range(40)]
    path.write_text("review,sentiment\n" + "\n".join(rows) + "\n")
    task = load_task(str(path), TaskOptions(text_column="review", label_column="sentiment"))
    assert task.labels == ["neg", "pos"]
    assert len(task.train) + len(task.validation) + len(task.test) == 40


def test_csv_missing_column_names_it(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("body,label\nhello,a\n")
    with pytest.raises(InputError, match="line 1, column text"):
        load_task(str(path))


def test_csv_empty_text_names_line_and_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,label\nfine,a\n   ,b\n")
    with pytest.raises(InputError) as error:
        load_task(str(path))
    assert error.value.line == 3
    assert error.value.column == "text"


def test_jsonl_bad_json_names_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": \n')
    with pytest.raises(InputError, match="line 2"):
        load_task(str(path))


def test_jsonl_missing_label_names_column(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b"}\n')
    with pytest.raises(InputError, match="line 2, column label"):
        load_task(str(path))


def test_bad_ratios_and_unknown_task():
    with pytest.raises(ScalingLabError, match="split ratios"):
        load_task("tweets-binary", TaskOptions(split_ratios=(0.5, 0.2, 0.2)))
    with pytest.raises(ScalingLabError, match="unknown task"):
        load_task("no-such-task")


def test_hf_task_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ScalingLabError, match="cannot load Hugging Face dataset"):
        load_task("hf:surely-not-a-cached-dataset-xyz")


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=3, max_value=60), min_size=2, max_size=4),
    seed=st.integers(0, 1000),
)
def test_split_partitions_every_row(counts, seed):
    labels = [f"c{i}" for i in range(len(counts))]
    names = [label for label, n in zip(labels, counts, strict=True) for _ in range(n)]
    texts = [f"text {i}" for i in range(len(names))]
    task = split_task("toy", texts, names, labels, TaskOptions(seed=seed))
    pooled = task.train.texts + task.validation.texts + task.test.texts
    assert sorted(pooled) == sorted(texts)
    for cls, n in enumerate(counts):
        assert int((task.train.labels == cls).sum()) == round(0.8 * n)


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=1, max_value=50), min_size=2, max_size=4),
    fraction=st.floats(0.05, 0.95),
)
def test_stratified_subsample_has_the_requested_size(counts, fraction):
    import numpy as np

    y = np.repeat(np.arange(len(counts)), counts)
    size = max(len(counts), int(fraction * len(y)))
    ids = stratified_subsample(y, size, np.random.default_rng(0))
    assert len(set(ids.tolist())) == len(ids)
    assert abs(len(ids) - size) <= len(counts)
    assert set(y[ids].tolist()) == set(range(len(counts)))


def test_missing_task_file_says_file_not_found(tmp_path):
    with pytest.raises(ScalingLabError, match=r"task file not found: .*missing\.csv"):
        load_task(str(tmp_path / "missing.csv"))
    with pytest.raises(ScalingLabError, match=r"task file not found: data/x\.csv"):
        load_task("data/x.csv")


def test_non_utf8_file_is_a_one_line_input_error(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncaf\xe9 ok,a\nbad,b\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin.csv, line 2: byte 0xe9 is not UTF-8"):
        load_task(str(path))
    header = tmp_path / "header.csv"
    header.write_bytes("t\xe9xt,label\nx,a\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_task(str(header))
    jsonl = tmp_path / "latin.jsonl"
    jsonl.write_bytes('{"text": "caf\xe9", "label": "a"}\n'.encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_task(str(jsonl))


def _rows(n, offset=0):
    return [(f"text number {offset + i}", "a" if i % 2 else "b") for i in range(n)]


def _write(path, rows, split=None):
    lines = ["text,label" + (",split" if split else "")]
    lines += [
        f"{t},{label}" + (f",{split[i]}" if split else "") for i, (t, label) in enumerate(rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_split_column_keeps_the_users_splits(tmp_path):
    rows = _rows(30)
    given = ["train"] * 20 + ["dev"] * 4 + ["TEST"] * 6
    task = load_task(_write(tmp_path / "s.csv", rows, given), TaskOptions(split_column="split"))
    assert task.train.texts == [t for t, _ in rows[:20]]
    assert task.validation.texts == [t for t, _ in rows[20:24]]
    assert task.test.texts == [t for t, _ in rows[24:]]
    assert task.labels == ["a", "b"]
    bad = _write(tmp_path / "bad.csv", rows[:2], ["train", "holdout"])
    with pytest.raises(InputError, match="line 3, column split: split 'holdout'"):
        load_task(bad, TaskOptions(split_column="split"))


def test_train_validation_and_test_files(tmp_path):
    train = _write(tmp_path / "train.csv", _rows(40))
    validation = _write(tmp_path / "val.csv", _rows(10, offset=100))
    test = _write(tmp_path / "test.csv", _rows(12, offset=200))
    options = TaskOptions(validation_file=validation, test_file=test)
    task = load_task(train, options)
    assert (len(task.train), len(task.validation), len(task.test)) == (40, 10, 12)
    assert task.test.texts[0] == "text number 200"
    carved = load_task(train, TaskOptions(test_file=test, split_ratios=(0.6, 0.2, 0.2)))
    # validation is 0.2 / (0.6 + 0.2) of each class of the training file: 20 * 0.25 = 5
    assert (len(carved.train), len(carved.validation)) == (30, 10)
    assert set(carved.train.texts).isdisjoint(carved.validation.texts)
    with pytest.raises(ScalingLabError, match="task file not found"):
        load_task(train, TaskOptions(test_file=str(tmp_path / "nope.csv")))


def test_a_class_with_few_examples_is_warned_and_noted(tmp_path):
    from scalinglab.finetune.tasks import SmallClassWarning

    rows = [(f"t{i}", "big") for i in range(40)] + [("r1", "rare"), ("r2", "rare")]
    path = tmp_path / "rare.csv"
    path.write_text("text,label\n" + "\n".join(f"{t},{label}" for t, label in rows) + "\n")
    with pytest.warns(SmallClassWarning, match="class 'rare' has 2 train example"):
        task = load_task(str(path))
    assert any("'rare' has 0 test example" in note for note in task.notes)
