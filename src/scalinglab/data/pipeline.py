"""Corpus → tokenizer → shards → samplers: everything a run needs from the data side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scalinglab.data.corpus import load_corpus
from scalinglab.data.sampler import SpecialIds, WindowSampler, validation_sampler
from scalinglab.data.shards import TokenShards, build_shards
from scalinglab.data.tokenizer import BERT_SPECIALS, TrainedTokenizer, get_tokenizer
from scalinglab.models.families import get_family


@dataclass
class PreparedData:
    """The training sampler, the fixed validation set and where they came from."""

    tokenizer: TrainedTokenizer
    shards: TokenShards
    train: WindowSampler
    val: WindowSampler
    n_val_samples: int

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
) -> PreparedData:
    """Load or build (and cache) the tokenizer and shards, and cut the samplers."""
    text = load_corpus(corpus)
    tokenizer = get_tokenizer(text, family, vocab_size, cache_dir)
    shards = build_shards(text, tokenizer, val_fraction=val_fraction, cache_dir=cache_dir)
    specials = None
    if get_family(family).objective == "mlm":
        ids = [tokenizer.token_id(t) for t in BERT_SPECIALS]
        specials = SpecialIds(
            pad=ids[0], cls=ids[2], sep=ids[3], mask=ids[4], n_special=max(ids) + 1
        )
    common = {
        "family": family,
        "n_ctx": n_ctx,
        "vocab_size": tokenizer.vocab_size,
        "specials": specials,
        "nsp": nsp,
    }
    train = WindowSampler(shards.train, seed=seed, unique_tokens=unique_tokens, **common)
    val, n_val = validation_sampler(shards.val, val_tokens=val_tokens, **common)
    return PreparedData(tokenizer, shards, train, val, n_val)
