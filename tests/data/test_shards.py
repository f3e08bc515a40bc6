"""Shards: the split is by document, deterministic, and independent of order and seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from scalinglab.data.corpus import load_corpus
from scalinglab.data.shards import build_shards, is_validation_document
from scalinglab.data.tokenizer import get_tokenizer


@given(st.text(min_size=1, max_size=200), st.floats(0.01, 0.99))
def test_split_is_a_function_of_the_text(doc: str, fraction: float) -> None:
    assert is_validation_document(doc, fraction) == is_validation_document(doc, fraction)
    assert not is_validation_document(doc, 0.0)


def test_shards_are_deterministic_and_disjoint_by_document(tmp_path: Path) -> None:
    docs = load_corpus("kjv").documents[:120]
    forward, backward = tmp_path / "f.txt", tmp_path / "b.txt"
    forward.write_text("\n\n".join(docs))
    backward.write_text("\n\n".join(reversed(docs)))
    corpus = load_corpus(forward)
    tok = get_tokenizer(corpus, "gpt", 400, tmp_path / "c1")
    one = build_shards(corpus, tok, val_fraction=0.1, cache_dir=tmp_path / "c1")
    two = build_shards(load_corpus(forward), tok, val_fraction=0.1, cache_dir=tmp_path / "c2")
    assert np.array_equal(one.train, two.train)
    assert np.array_equal(one.val, two.val)
    assert one.train.dtype == np.uint16
    assert one.n_train_docs + one.n_val_docs == 120
    assert 3 <= one.n_val_docs <= 25
    val_docs = {d for d in docs if is_validation_document(d, 0.1)}
    assert len(val_docs) == one.n_val_docs
    reordered = load_corpus(backward)
    flipped = build_shards(
        reordered, get_tokenizer(reordered, "gpt", 400, tmp_path / "c3"), val_fraction=0.1,
        cache_dir=tmp_path / "c3",
    )  # fmt: skip
    assert flipped.n_val_docs == one.n_val_docs  # same documents, whatever the order
    eos = tok.token_id("<|endoftext|>")
    assert int((one.val == eos).sum()) == one.n_val_docs
