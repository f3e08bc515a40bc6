"""Reading texts and writing predictions for ``scalinglab predict``, and the command itself."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.errors import InputError, ScalingLabError
from scalinglab.finetune.checkpoint import save_classifier
from scalinglab.finetune.predict_io import read_texts, run_predict, write_predictions
from scalinglab.finetune.predictor import Prediction

pytest.importorskip("torch")

LABELS = ["negative", "positive"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_tokenizer):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    model = BertForSequenceClassification(config).eval()
    directory = tmp_path_factory.mktemp("predict-io") / "model"
    return save_classifier(model, tiny_tokenizer, directory, {"method": "full"})


def test_read_txt_skips_blank_lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("good car\n\n  \nbad ride\n")
    assert read_texts(path) == ["good car", "bad ride"]


def test_read_csv_with_quoted_newlines_and_named_column(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text('id,body\n1,"good, great"\n2,"two\nlines"\n')
    assert read_texts(path, text_column="body") == ["good, great", "two\nlines"]


def test_read_csv_without_the_column_names_the_columns(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,body\n1,good\n")
    with pytest.raises(
        InputError, match=r"in\.csv, line 1, column text: no column 'text' \(columns: id, body\)"
    ):
        read_texts(path)


def test_read_jsonl_reports_the_bad_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "good"}\n\n{"text": 3}\n')
    with pytest.raises(InputError, match="line 3, column text: no string field 'text'"):
        read_texts(path)
    path.write_text('{"text": "good"}\n{"text": \n')
    with pytest.raises(InputError, match="line 2: not valid JSON"):
        read_texts(path)


def test_unknown_extension_and_missing_file_are_user_errors(tmp_path):
    with pytest.raises(ScalingLabError, match=r"use one of \.txt, \.csv, \.jsonl"):
        read_texts(tmp_path / "in.xlsx")
    with pytest.raises(ScalingLabError, match="does not exist"):
        read_texts(tmp_path / "in.txt")


def test_write_csv_and_jsonl_keep_one_row_per_text(tmp_path):
    texts = ["a", "b, with comma"]
    predictions = [
        Prediction("positive", {"negative": 0.25, "positive": 0.75}),
        Prediction("negative", {"negative": 0.5625, "positive": 0.4375}),
    ]
    with write_predictions(tmp_path / "out.csv", texts, predictions, LABELS).open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["text"] for row in rows] == texts
    assert [row["label"] for row in rows] == ["positive", "negative"]
    assert rows[1]["p_negative"] == "0.5625"
    assert rows[1]["p_positive"] == "0.4375"
    jsonl = write_predictions(tmp_path / "sub" / "out.jsonl", texts, predictions, LABELS)
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert lines[1] == {
        "text": "b, with comma",
        "label": "negative",
        "probabilities": {"negative": 0.5625, "positive": 0.4375},
    }


def test_run_predict_combines_arguments_and_file(model_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "good car"}\n{"text": "bad ride"}\n')
    run = run_predict(model_dir, ["happy"], input_path=source, output_path=tmp_path / "out.jsonl")
    assert run.texts == ["happy", "good car", "bad ride"]
    assert len(run.predictions) == 3
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["text"] for row in written] == run.texts
    assert [row["label"] for row in written] == [p.label for p in run.predictions]


def test_run_predict_needs_texts(model_dir):
    with pytest.raises(ScalingLabError, match="no texts to predict"):
        run_predict(model_dir, [])


def test_cli_prints_a_table_of_labels_and_probabilities(model_dir):
    result = CliRunner().invoke(app, ["predict", "--model", str(model_dir), "good car", "sad"])
    assert result.exit_code == 0, result.output
    assert "p(negative)" in result.output
    assert "p(positive)" in result.output
    assert "good car" in result.output
    assert "sad" in result.output


def test_cli_writes_csv_output(model_dir, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("good car\nbad ride\nhappy\n")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        app, ["predict", "--model", str(model_dir), "--input", str(source), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "3 predictions written to" in result.output
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["text"] for row in rows] == ["good car", "bad ride", "happy"]
    for row in rows:
        assert float(row["p_negative"]) + float(row["p_positive"]) == pytest.approx(1, abs=1e-5)


@pytest.mark.slow
def test_cli_user_error_is_one_line_exit_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "scalinglab", "predict", "--model", str(tmp_path), "hello"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:")
    assert "Traceback" not in result.stderr
    assert "not a scalinglab classifier" in result.stderr
