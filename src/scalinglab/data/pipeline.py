"""Corpus → tokenizer → shards → samplers: everything a run needs from the data side.

With ``data`` (a ``scalinglab data prepare`` folder or nanoGPT bins,
:mod:`scalinglab.data.prepared`) the tokens come from there instead of the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalinglab.data.corpus import load_corpus
from scalinglab.data.prepared import ShardedStream, load_token_data
from scalinglab.data.sampler import SpecialIds, WindowSampler, validation_sampler
from scalinglab.data.shards import TokenShards, build_shards
from scalinglab.data.tokenizer import BERT_SPECIALS, TrainedTokenizer, get_tokenizer
from scalinglab.errors import ScalingLabError
from scalinglab.models.families import get_family


@dataclass
class PreparedData:
    """The training sampler, the fixed validation set and where they came from
    (``tokenizer`` is ``None`` for nanoGPT bins; ``shards`` for prepared data)."""

    tokenizer: TrainedTokenizer | None
    shards: TokenShards | None
    train: WindowSampler
    val: WindowSampler
    n_val_samples: int
    vocab_size: int

    @property
    def unique_tokens(self) -> int:
        return self.train.unique_tokens


def prepare_data(
    *,
    family: str,
    corpus: str,
    vocab_size: int,
    n_ctx: int,
    seed: int,
    nsp: bool = False,
    unique_tokens: int | None = None,
    val_fraction: float = 0.05,
    val_tokens: int = 32_768,
    cache_dir: str | Path | None = None,
    data: str | None = None,
    data_dtype: str | None = None,
) -> PreparedData:
    """Load or build (and cache) the tokenizer and shards, and cut the samplers; with
    ``data``, map that prepared folder instead of reading ``corpus``."""
    if data is not None:
        if get_family(family).objective != "causal":
            raise ScalingLabError(
                f"--data serves causal families (gpt, llama); {family} needs its special "
                "tokens: train it from --corpus instead"
            )
        tokens = load_token_data(data, vocab_size=vocab_size, dtype=data_dtype)
        return _samplers(
            tokens.tokenizer, None, tokens.train, tokens.val, tokens.vocab_size,
            family=family, n_ctx=n_ctx, seed=seed, nsp=nsp, unique_tokens=unique_tokens,
            val_tokens=val_tokens,
        )  # fmt: skip
    text = load_corpus(corpus)
    tokenizer = get_tokenizer(text, family, vocab_size, cache_dir)
    shards = build_shards(text, tokenizer, val_fraction=val_fraction, cache_dir=cache_dir)
    return _samplers(
        tokenizer, shards, shards.train, shards.val, tokenizer.vocab_size,
        family=family, n_ctx=n_ctx, seed=seed, nsp=nsp, unique_tokens=unique_tokens,
        val_tokens=val_tokens,
    )  # fmt: skip


def _samplers(
    tokenizer: TrainedTokenizer | None,
    shards: TokenShards | None,
    train_stream: np.ndarray | ShardedStream,
    val_stream: np.ndarray | ShardedStream,
    vocab_size: int,
    *,
    family: str,
    n_ctx: int,
    seed: int,
    nsp: bool,
    unique_tokens: int | None,
    val_tokens: int,
) -> PreparedData:
    """The training sampler and the fixed validation set over two token streams."""
    specials = None
    if get_family(family).objective == "mlm":
        assert tokenizer is not None
        ids = [tokenizer.token_id(t) for t in BERT_SPECIALS]
        specials = SpecialIds(
            pad=ids[0], cls=ids[2], sep=ids[3], mask=ids[4], n_special=max(ids) + 1
        )
    common = {
        "family": family,
        "n_ctx": n_ctx,
        "vocab_size": vocab_size,
        "specials": specials,
        "nsp": nsp,
    }
    train = WindowSampler(train_stream, seed=seed, unique_tokens=unique_tokens, **common)  # type: ignore[arg-type]
    val, n_val = validation_sampler(val_stream, val_tokens=val_tokens, **common)  # type: ignore[arg-type]
    return PreparedData(tokenizer, shards, train, val, n_val, vocab_size)
