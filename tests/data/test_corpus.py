"""Corpora: the embedded KJV, local files and folders, Hugging Face names offline."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalinglab.data.corpus import load_corpus
from scalinglab.errors import InputError, ScalingLabError


def test_embedded_corpus_is_the_kjv_by_chapter() -> None:
    corpus = load_corpus()
    assert corpus.name == "kjv"
    assert len(corpus.documents) == 1189
    assert corpus.documents[0].startswith("Genesis 1\nIn the beginning God created")
    assert 4_000_000 < corpus.n_chars < 4_500_000
    assert load_corpus("kjv").fingerprint == corpus.fingerprint


def test_text_jsonl_parquet_and_folder(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("first paragraph\n\nsecond paragraph\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "from jsonl"}) + "\n\n")
    pq.write_table(pa.table({"text": ["from parquet", None]}), tmp_path / "c.parquet")
    assert load_corpus(tmp_path / "a.txt").documents == ("first paragraph", "second paragraph")
    assert load_corpus(str(tmp_path / "b.jsonl")).documents == ("from jsonl",)
    assert load_corpus(tmp_path / "c.parquet").documents == ("from parquet",)
    folder = load_corpus(tmp_path)
    assert folder.documents == (
        "first paragraph\n\nsecond paragraph",
        "from jsonl",
        "from parquet",
    )


def test_bad_jsonl_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n{"txt": "no"}\n')
    with pytest.raises(InputError, match="line 2"):
        load_corpus(path)


def test_missing_path_and_offline_hub_give_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ScalingLabError, match="neither"):
        load_corpus("/no/such/corpus.txt")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ScalingLabError, match="could not load Hugging Face dataset"):
        load_corpus("hf:scalinglab-nonexistent/never-cached")


def test_hf_loader_reads_a_local_dataset_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``hf:`` goes through ``datasets.load_dataset``, which also reads a local folder of
    data files: the real code path, offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "train.jsonl").write_text('{"text": "alpha beta"}\n{"text": "gamma"}\n')
    corpus = load_corpus(f"hf:{folder}")
    assert corpus.documents == ("alpha beta", "gamma")
