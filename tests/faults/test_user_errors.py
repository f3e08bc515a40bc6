"""Hostile and careless input through the real CLI: one line on stderr, exit status 2, no
traceback, and nothing written where it should not be."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from scalinglab.errors import (
    DiskFullError,
    InputError,
    ScalingLabError,
    as_user_error,
    disk_full_names,
)
from scalinglab.sweep.runner import run_folder, sweep_folder


def _one_error_line(result) -> str:
    """The single stderr line of a refused command (exit 2, no traceback)."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("name", ["../x", "../../../escaped", "/tmp/abs", "a/b", ".hidden", ""])
def test_a_sweep_name_that_leaves_the_runs_root_is_refused(cli, sweep_file, tmp_path, name):
    design = sweep_file(name)
    root = tmp_path / "root"
    before = _tree(tmp_path)
    result = cli("sweep", "run", str(design), "--registry", str(root / "r.db"))
    line = _one_error_line(result)
    assert "name" in line
    assert _tree(tmp_path) == before  # not even the registry was created
    assert not Path("/tmp/abs").exists()


def test_run_folders_are_checked_to_stay_under_the_root(tmp_path):
    assert sweep_folder(tmp_path, "ok") == (tmp_path / "ok").resolve()
    for sweep in ("..", "../x", str(tmp_path.parent / "x"), "."):
        with pytest.raises(ScalingLabError, match="outside the runs folder"):
            sweep_folder(tmp_path, sweep)
    with pytest.raises(ScalingLabError, match="outside the sweep folder"):
        run_folder(tmp_path, "../other")


def test_a_corpus_that_is_not_utf8_is_one_line(cli, tiny_train, tmp_path):
    corpus = tmp_path / "latin1.txt"
    corpus.write_bytes("First line\n\nCaf\u00e9 in Latin-1\n".encode("latin-1"))
    args = [*tiny_train, "--corpus", str(corpus), "--tokens", "5120"]
    line = _one_error_line(cli("train", *args, "--out", str(tmp_path / "run")))
    assert str(corpus) in line
    assert "line 3" in line
    assert "0xe9" in line


@pytest.mark.parametrize(
    ("option", "value"),
    [("--lr", "-1"), ("--lr", "0"), ("--lr", "nan"), ("--seed", "-1"), ("--peak-flops", "-5")],
)
def test_a_non_positive_numeric_option_is_one_line(cli, tiny_train, tmp_path, option, value):
    out = tmp_path / "run"
    line = _one_error_line(cli("train", *tiny_train, option, value, "--out", str(out)))
    assert option.strip("-").replace("-", "_") in line
    assert not out.exists()


def test_no_space_left_names_the_path_and_its_free_space(tmp_path):
    with pytest.raises(DiskFullError) as caught, disk_full_names(tmp_path / "run"):
        raise OSError(errno.ENOSPC, "No space left on device")
    message = str(caught.value)
    assert str(tmp_path / "run") in message
    assert " free there" in message
    wrapped = RuntimeError("Error while serializing: I/O error: No space left (os error 28)")
    assert isinstance(as_user_error(wrapped), DiskFullError)
    assert as_user_error(RuntimeError("a bug")) is None


def test_finetune_csv_and_predict_input_not_utf8_name_file_and_line(tmp_path):
    from scalinglab.finetune.predict_io import read_texts
    from scalinglab.finetune.tasks import load_task

    header = tmp_path / "header.csv"
    header.write_bytes("t\u00e9xt,label\nok,pos\n".encode("latin-1"))  # bad byte in line 1
    rows = tmp_path / "rows.csv"
    rows.write_bytes("text,label\ngood,pos\ncaf\u00e9,neg\n".encode("latin-1"))
    for path, line in ((header, 1), (rows, 3)):
        with pytest.raises(InputError, match=f"line {line}: byte 0xe9 is not UTF-8"):
            load_task(str(path))
    texts = tmp_path / "texts.txt"
    texts.write_bytes("fine\ncaf\u00e9\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"texts\.txt, line 2: byte 0xe9 is not UTF-8"):
        read_texts(texts)


def test_a_model_folder_of_unknown_model_type_is_a_user_error(tmp_path):
    pytest.importorskip("transformers")
    import torch
    from safetensors.torch import save_file

    from scalinglab.finetune.checkpoint import METADATA_FILE, load_classifier

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-model"}))
    save_file({"weight": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    (tmp_path / METADATA_FILE).write_text(json.dumps({"labels": ["a", "b"]}))
    with pytest.raises(ScalingLabError, match="transformers cannot build its model") as caught:
        load_classifier(tmp_path)
    assert "\n" not in str(caught.value)
