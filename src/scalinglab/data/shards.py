"""Token shards: a corpus tokenized once into memory-mapped arrays, split by document.

Layout under ``CACHE/shards/<key>/``: ``train.bin`` and ``val.bin`` (raw ``uint16`` when
the vocabulary fits, else ``uint32``) and ``meta.json``. Documents are concatenated with a
separator token after each (the tokenizer kind's: ``<|endoftext|>`` for byte-level BPE,
``[SEP]`` for WordPiece).

The split is by document and depends only on the document's text: a document is in the
validation split when the first 8 hex digits of its SHA-256, modulo 10,000, fall below
``val_fraction * 10,000``. It does not depend on the run's seed, the document order or
the model, so every run of a sweep on the same corpus and tokenizer sees the same
validation tokens and never trains on them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalinglab.data.corpus import Corpus
from scalinglab.data.tokenizer import TrainedTokenizer, cache_root
from scalinglab.errors import ScalingLabError
from scalinglab.io import atomic_write_bytes, atomic_write_json

SHARD_VERSION = 1
DEFAULT_VAL_FRACTION = 0.05


@dataclass(frozen=True)
class TokenShards:
    """Memory-mapped train and validation token streams of one corpus and tokenizer."""

    train: np.ndarray
    val: np.ndarray
    vocab_size: int
    n_train_docs: int
    n_val_docs: int
    key: str


def is_validation_document(document: str, val_fraction: float) -> bool:
    """Whether ``document`` belongs to the validation split (by its content hash)."""
    bucket = int(hashlib.sha256(document.encode("utf-8")).hexdigest()[:8], 16) % 10_000
    return bucket < round(val_fraction * 10_000)


def build_shards(
    corpus: Corpus,
    tokenizer: TrainedTokenizer,
    *,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    cache_dir: str | Path | None = None,
) -> TokenShards:
    """Tokenize ``corpus`` into cached train/validation shards (built once, then mapped)."""
    if not 0.0 < val_fraction < 1.0:
        raise ScalingLabError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    key = hashlib.sha256(
        json.dumps([tokenizer.key, float(val_fraction), SHARD_VERSION]).encode()
    ).hexdigest()[:24]
    folder = cache_root(cache_dir) / "shards" / key
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        _write_shards(corpus, tokenizer, val_fraction, folder)
    meta = json.loads(meta_path.read_text())
    dtype = np.dtype(meta["dtype"])
    return TokenShards(
        train=np.memmap(folder / "train.bin", dtype=dtype, mode="r"),
        val=np.memmap(folder / "val.bin", dtype=dtype, mode="r"),
        vocab_size=meta["vocab_size"],
        n_train_docs=meta["n_train_docs"],
        n_val_docs=meta["n_val_docs"],
        key=key,
    )


def _write_shards(
    corpus: Corpus, tokenizer: TrainedTokenizer, val_fraction: float, folder: Path
) -> None:
    separator = tokenizer.token_id(tokenizer.separator)
    splits: dict[str, list[str]] = {"train": [], "val": []}
    for doc in corpus.documents:
        splits["val" if is_validation_document(doc, val_fraction) else "train"].append(doc)
    if not splits["val"] or not splits["train"]:
        raise ScalingLabError(
            f"corpus {corpus.name!r} has {len(corpus.documents)} documents: too few to split "
            f"{val_fraction:.0%} for validation by document; add documents or raise val_fraction"
        )
    dtype = np.uint16 if tokenizer.vocab_size <= 2**16 else np.uint32
    folder.mkdir(parents=True, exist_ok=True)
    for name, docs in splits.items():
        encodings = tokenizer.tokenizer.encode_batch(docs, add_special_tokens=False)
        pieces = [np.asarray([*e.ids, separator], dtype=dtype) for e in encodings]
        atomic_write_bytes(folder / f"{name}.bin", np.concatenate(pieces).tobytes())
    meta = {
        "dtype": np.dtype(dtype).name,
        "vocab_size": tokenizer.vocab_size,
        "n_train_docs": len(splits["train"]),
        "n_val_docs": len(splits["val"]),
        "corpus": corpus.name,
        "corpus_fingerprint": corpus.fingerprint,
        "tokenizer_key": tokenizer.key,
        "val_fraction": val_fraction,
    }
    atomic_write_json(folder / "meta.json", meta)
