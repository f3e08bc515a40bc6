"""Reading prepared data: shards seen as one stream, nanoGPT bins with a stated dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.data.corpus import load_corpus
from scalinglab.data.pipeline import prepare_data
from scalinglab.data.prepare import prepare_corpus
from scalinglab.data.prepared import ShardedStream, data_vocab_size, load_token_data
from scalinglab.errors import ScalingLabError


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 7), min_size=1, max_size=6),
    st.integers(-50, 50),
    st.integers(-50, 50),
)
def test_a_sharded_stream_slices_like_the_concatenated_array(
    lengths: list[int], start: int, stop: int
) -> None:
    pieces = [np.arange(100 * i, 100 * i + n, dtype=np.uint16) for i, n in enumerate(lengths)]
    whole = np.concatenate(pieces)
    stream = ShardedStream(pieces)
    assert len(stream) == len(whole)
    assert np.array_equal(np.asarray(stream[start:stop]), whole[start:stop])
    assert np.array_equal(np.asarray(stream[:stop][start:], dtype=np.int64), whole[:stop][start:])


def _nanogpt(folder: Path, dtype: str, vocab: int, n: int = 5000) -> dict[str, np.ndarray]:
    folder.mkdir()
    rng = np.random.default_rng(0)
    arrays = {s: rng.integers(0, vocab, n, dtype=np.int64).astype(dtype) for s in ("train", "val")}
    for split, array in arrays.items():
        array.tofile(folder / f"{split}.bin")
    return arrays


@pytest.mark.parametrize("dtype", ["uint16", "uint32"])
def test_nanogpt_bins_are_read_with_their_stated_dtype(tmp_path: Path, dtype: str) -> None:
    vocab = 70_000 if dtype == "uint32" else 1000
    arrays = _nanogpt(tmp_path / "bins", dtype, vocab)
    data = load_token_data(tmp_path / "bins", vocab_size=vocab, dtype=dtype)
    assert data.tokenizer is None
    assert data.vocab_size == vocab
    assert np.array_equal(np.asarray(data.train), arrays["train"])
    assert np.array_equal(np.asarray(data.val), arrays["val"])
    assert data_vocab_size(tmp_path / "bins", vocab) == vocab
    run = prepare_data(family="gpt", corpus="unused", vocab_size=vocab, n_ctx=16, seed=1,
                       val_tokens=64, data=str(tmp_path / "bins"), data_dtype=dtype)  # fmt: skip
    sample = run.train.sample(0)
    start = run.train.window_index(0) * 16
    assert np.array_equal(sample["input_ids"], arrays["train"][start : start + 16])
    assert run.n_val_samples == 4


def test_wrong_or_missing_dtypes_and_vocabularies_are_refused(tmp_path: Path) -> None:
    _nanogpt(tmp_path / "bins", "uint16", 1000, n=5001)
    with pytest.raises(ScalingLabError, match="--data-dtype uint16 or --data-dtype uint32"):
        load_token_data(tmp_path / "bins", vocab_size=1000)
    with pytest.raises(ScalingLabError, match="not a whole positive number of uint32"):
        load_token_data(tmp_path / "bins", vocab_size=1000, dtype="uint32")
    with pytest.raises(ScalingLabError, match="not one of"):
        load_token_data(tmp_path / "bins", vocab_size=1000, dtype="int8")
    with pytest.raises(ScalingLabError, match="not below the vocabulary size 500"):
        load_token_data(tmp_path / "bins", vocab_size=500, dtype="uint16")
    with pytest.raises(ScalingLabError, match=r"neither index\.json nor train\.bin and val\.bin"):
        load_token_data(tmp_path, vocab_size=1000, dtype="uint16")
    with pytest.raises(ScalingLabError, match="not a folder"):
        load_token_data(tmp_path / "none", vocab_size=1000, dtype="uint16")


def test_prepared_shards_feed_the_samplers(tmp_path: Path) -> None:
    text = tmp_path / "c.txt"
    text.write_text("\n\n".join(load_corpus("kjv").documents[:60]))
    out = tmp_path / "out"
    prepare_corpus(str(text), out, vocab_size=350, sample_bytes=50_000, shard_tokens=997,
                   workers=1)  # fmt: skip
    assert data_vocab_size(out, 4096) == 350
    data = load_token_data(out, vocab_size=350)
    whole = np.concatenate([np.fromfile(p, dtype=np.uint16) for p in sorted(out.glob("train-*"))])
    assert np.array_equal(np.asarray(data.train), whole)
    run = prepare_data(family="llama", corpus="unused", vocab_size=350, n_ctx=64, seed=3,
                       unique_tokens=5000, val_tokens=640, data=str(out))  # fmt: skip
    for index in range(5):
        start = run.train.window_index(index) * 64
        assert np.array_equal(run.train.sample(index)["labels"], whole[start + 1 : start + 65])
    assert run.unique_tokens <= 5000
    assert run.n_val_samples == 10
    assert run.tokenizer is not None
    assert run.tokenizer.separator == "<|endoftext|>"
    with pytest.raises(ScalingLabError, match="use --vocab 350"):
        load_token_data(out, vocab_size=4096)
    with pytest.raises(ScalingLabError, match="contradicts"):
        load_token_data(out, vocab_size=350, dtype="uint32")
    with pytest.raises(ScalingLabError, match="causal families"):
        prepare_data(family="bert", corpus="unused", vocab_size=350, n_ctx=64, seed=3,
                     data=str(out))  # fmt: skip
