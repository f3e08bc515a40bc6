"""Tokenizers: trained once per (corpus, family, vocabulary), then read from the cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scalinglab.data.corpus import Corpus, load_corpus
from scalinglab.data.tokenizer import BERT_SPECIALS, GPT_EOS, cache_root, get_tokenizer


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    path = tmp_path_factory.mktemp("c") / "docs.txt"
    path.write_text("\n\n".join(load_corpus("kjv").documents[:40]))
    return load_corpus(path)


def test_cache_hit_returns_the_same_tokenizer_without_training(
    corpus: Corpus, tmp_path: Path
) -> None:
    first = get_tokenizer(corpus, "gpt", 400, tmp_path)
    assert first.path.is_relative_to(tmp_path / "tokenizers")
    stamp = first.path.stat().st_mtime_ns
    second = get_tokenizer(corpus, "gpt", 400, tmp_path)
    assert second.key == first.key
    assert second.path.stat().st_mtime_ns == stamp  # read, not rewritten
    text = "And God said, Let there be light"
    assert second.tokenizer.encode(text).ids == first.tokenizer.encode(text).ids
    assert get_tokenizer(corpus, "gpt", 500, tmp_path).key != first.key
    assert get_tokenizer(corpus, "bert", 400, tmp_path).key != first.key
    llama = get_tokenizer(corpus, "llama", 400, tmp_path)  # the same kind: byte-level BPE
    assert (llama.key, llama.path.stat().st_mtime_ns) == (first.key, stamp)


def test_cache_root_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("SCALINGLAB_CACHE")
    assert cache_root() == Path(os.path.expanduser("~")) / ".cache" / "scalinglab"


def test_gpt_is_byte_level_and_bert_is_wordpiece(corpus: Corpus, tmp_path: Path) -> None:
    gpt = get_tokenizer(corpus, "gpt", 400, tmp_path)
    assert gpt.vocab_size == 400
    assert gpt.token_id(GPT_EOS) == 0
    unseen = "Zébulon ☃"
    assert gpt.tokenizer.decode(gpt.tokenizer.encode(unseen).ids) == unseen  # bytes cover all
    bert = get_tokenizer(corpus, "bert", 400, tmp_path)
    assert [bert.token_id(t) for t in BERT_SPECIALS] == [0, 1, 2, 3, 4]
    tokens = bert.tokenizer.encode("In the Beginning").tokens
    assert tokens[0] == "[CLS]"
    assert tokens[-1] == "[SEP]"
    assert "in" in tokens  # lower-cased


def test_hf_folder_loads_with_autotokenizer(corpus: Corpus, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    bert = get_tokenizer(corpus, "bert", 400, tmp_path)
    folder = bert.save_hf(tmp_path / "hf")
    loaded = AutoTokenizer.from_pretrained(folder)
    assert loaded.mask_token == "[MASK]"
    assert loaded("in the beginning")["input_ids"] == bert.tokenizer.encode("in the beginning").ids
