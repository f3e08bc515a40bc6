"""Streamed documents equal what the in-memory reader (load_corpus) gives, for every form."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.data.corpus import load_corpus
from scalinglab.data.sources import MAX_DOC_CHARS, iter_documents, source_fingerprint
from scalinglab.errors import InputError, ScalingLabError

DOCS = ["In the beginning", "God created\nthe heaven", "  and the earth.  ", "Amen"]


def _streamed(path: Path) -> list[str]:
    return list(iter_documents(str(path)))


def test_text_jsonl_parquet_and_folder_match_load_corpus(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    text = folder / "a.txt"
    text.write_text("\n\n".join(DOCS) + "\n\n\n")
    lines = folder / "sub" / "b.jsonl"
    lines.write_text("".join(json.dumps({"text": d}) + "\n" for d in DOCS))
    table = folder / "c.parquet"
    pq.write_table(pa.table({"text": [*DOCS, None]}), table)
    for path in (text, lines, table, folder):
        assert _streamed(path) == list(load_corpus(path).documents), path
    assert _streamed(text) == [
        "In the beginning",
        "God created\nthe heaven",
        "and the earth.",
        "Amen",
    ]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab \n\r.é", max_size=300))
def test_text_documents_match_load_corpus_for_any_text(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("t") / "x.txt"
    path.write_bytes(text.encode("utf-8"))
    expected = [
        d
        for d in (p.strip() for p in text.replace("\r\n", "\n").replace("\r", "\n").split("\n\n"))
        if d
    ]
    assert _streamed(path) == expected


def test_a_document_longer_than_the_limit_is_cut_at_lines(tmp_path: Path) -> None:
    line = "x" * 1000 + "\n"
    n_lines = 3 * MAX_DOC_CHARS // len(line)
    long = line * n_lines
    one_line = "y" * (2 * MAX_DOC_CHARS + 5)
    path = tmp_path / "long.txt"
    path.write_text(long + "\n" + one_line)
    pieces = _streamed(path)
    assert all(len(p) <= MAX_DOC_CHARS for p in pieces)
    n_long = -(-n_lines // (MAX_DOC_CHARS // len(line)))  # whole lines per piece
    assert len(pieces) == n_long + 3
    assert "\n".join(pieces[:n_long]) == long.strip()
    assert "".join(pieces[n_long:]) == one_line


def test_bad_sources_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(ScalingLabError, match="neither"):
        list(iter_documents(str(tmp_path / "missing.txt")))
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("ok\n\ncaf\u00e9\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"line 3.*not UTF-8"):
        list(iter_documents(str(latin)))
    other = tmp_path / "data.csv"
    other.write_text("text\n")
    with pytest.raises(ScalingLabError, match="cannot read corpus file"):
        list(iter_documents(str(other)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ScalingLabError, match="holds no"):
        source_fingerprint(str(empty))
    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"body": ["a"]}), table)
    with pytest.raises(InputError, match="no column 'text'"):
        list(iter_documents(str(table)))


def test_fingerprint_changes_with_the_files(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("one")
    before = source_fingerprint(str(path))
    path.write_text("one two")
    assert source_fingerprint(str(path)) != before
    assert source_fingerprint("hf:wikitext:wikitext-2-raw-v1") == {
        "source": "hf:wikitext:wikitext-2-raw-v1"
    }
