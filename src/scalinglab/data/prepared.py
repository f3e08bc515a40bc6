"""Reading prepared token data: a ``scalinglab data prepare`` folder or nanoGPT's bins.

``train --data DIR`` (and ``data = "DIR"`` in a sweep's ``[train]`` table) reads either

- a folder written by :mod:`scalinglab.data.prepare`: ``index.json`` gives the shards of
  each split, their dtype, the vocabulary size and the tokenizer beside them; or
- a nanoGPT-style folder holding ``train.bin`` and ``val.bin`` (raw token ids, no
  index): the dtype must be stated (``--data-dtype uint16|uint32``) and the vocabulary
  size is the run's ``--vocab``; every id is checked to lie below it, which also catches
  most wrong dtypes.

Each split is a :class:`ShardedStream`: its shards memory-mapped and seen as one token
stream, so the samplers cut windows across shard boundaries as from one array.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from scalinglab.data.prepare import INDEX_NAME, SPLITS, read_index
from scalinglab.data.tokenizer import TrainedTokenizer
from scalinglab.errors import ScalingLabError

DTYPES = ("uint16", "uint32")
_SCAN_BLOCK = 1 << 24


class ShardedStream:
    """Memory-mapped arrays seen as one 1-D token stream: ``len``, slicing (a lazy view
    with step 1) and ``numpy.asarray`` (reads the tokens of the view)."""

    def __init__(self, pieces: list[np.ndarray]) -> None:
        self.pieces = [p for p in pieces if len(p)]
        self.ends = np.cumsum([len(p) for p in self.pieces]).tolist()

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    @property
    def dtype(self) -> np.dtype:
        return self.pieces[0].dtype if self.pieces else np.dtype(np.uint16)

    def __getitem__(self, key: slice) -> ShardedStream:
        if not isinstance(key, slice):
            raise TypeError("a ShardedStream is indexed by slices")
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise ValueError("a ShardedStream slice has step 1")
        pieces = []
        first = bisect.bisect_right(self.ends, start)
        for number in range(first, len(self.pieces)):
            begin = self.ends[number] - len(self.pieces[number])
            if begin >= stop:
                break
            pieces.append(self.pieces[number][max(start - begin, 0) : stop - begin])
        return ShardedStream(pieces)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if not self.pieces:
            return np.zeros(0, dtype=dtype or self.dtype)
        joined = np.concatenate(self.pieces) if len(self.pieces) > 1 else self.pieces[0]
        return np.asarray(joined, dtype=dtype)


@dataclass(frozen=True)
class TokenData:
    """The train and validation streams of prepared data, its vocabulary size (tokens)
    and tokenizer (``None`` for nanoGPT bins, which carry none)."""

    train: ShardedStream
    val: ShardedStream
    vocab_size: int
    tokenizer: TrainedTokenizer | None
    source: str


def is_prepared(folder: str | Path) -> bool:
    """Whether ``folder`` holds a ``scalinglab data prepare`` index."""
    return (Path(folder).expanduser() / INDEX_NAME).is_file()


def data_vocab_size(folder: str | Path, given: int) -> int:
    """The vocabulary size a run on ``folder`` uses: the index's, else ``given``."""
    return read_index(_folder(folder))["vocab_size"] if is_prepared(folder) else given


def load_token_data(folder: str | Path, *, vocab_size: int, dtype: str | None = None) -> TokenData:
    """Map the prepared data or nanoGPT bins in ``folder`` (see the module docstring)."""
    path = _folder(folder)
    if dtype is not None and dtype not in DTYPES:
        raise ScalingLabError(f"--data-dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if is_prepared(path):
        return _load_prepared(path, vocab_size, dtype)
    return _load_nanogpt(path, vocab_size, dtype)


def _folder(folder: str | Path) -> Path:
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ScalingLabError(
            f"--data {folder} is not a folder; give the output of scalinglab data prepare "
            "or a folder holding train.bin and val.bin"
        )
    return path


def _load_prepared(path: Path, vocab_size: int, dtype: str | None) -> TokenData:
    index = read_index(path)
    if not index["complete"]:
        raise ScalingLabError(
            f"{path} holds an unfinished preparation; run scalinglab data prepare again to "
            "finish it"
        )
    if dtype is not None and dtype != index["dtype"]:
        raise ScalingLabError(
            f"--data-dtype {dtype} contradicts {path / INDEX_NAME} ({index['dtype']}); "
            "leave --data-dtype out for prepared data"
        )
    if vocab_size != index["vocab_size"]:
        raise ScalingLabError(
            f"the run's vocabulary ({vocab_size}) is not that of {path} "
            f"({index['vocab_size']}); use --vocab {index['vocab_size']}"
        )
    streams = {
        split: ShardedStream(
            [
                np.memmap(path / entry["file"], dtype=index["dtype"], mode="r")
                for entry in index["splits"][split]["shards"]
            ]
        )
        for split in SPLITS
    }
    info = index["tokenizer"]
    file = path / info["file"]
    tokenizer = TrainedTokenizer(
        Tokenizer.from_file(str(file)), info["kind"], info["sha256"][:24], file, info["separator"]
    )
    return TokenData(streams["train"], streams["val"], index["vocab_size"], tokenizer, str(path))


def _load_nanogpt(path: Path, vocab_size: int, dtype: str | None) -> TokenData:
    files = {split: path / f"{split}.bin" for split in SPLITS}
    missing = [f.name for f in files.values() if not f.is_file()]
    if missing:
        raise ScalingLabError(
            f"--data {path} holds neither {INDEX_NAME} nor {' and '.join(missing)}; give "
            "the output of scalinglab data prepare or nanoGPT's train.bin and val.bin"
        )
    if dtype is None:
        raise ScalingLabError(
            f"{path} holds nanoGPT-style train.bin/val.bin without an index: state their "
            "dtype with --data-dtype uint16 or --data-dtype uint32"
        )
    streams = {split: _nanogpt_split(file, dtype, vocab_size) for split, file in files.items()}
    return TokenData(streams["train"], streams["val"], vocab_size, None, str(path))


def _nanogpt_split(file: Path, dtype: str, vocab_size: int) -> ShardedStream:
    """One nanoGPT bin, checked: a whole number of ``dtype`` items, every id below
    ``vocab_size`` (scanned in blocks, so memory stays flat)."""
    size = file.stat().st_size
    itemsize = np.dtype(dtype).itemsize
    if size == 0 or size % itemsize:
        raise ScalingLabError(
            f"{file} has {size:,} bytes, not a whole positive number of {dtype} tokens; "
            "check --data-dtype"
        )
    tokens = np.memmap(file, dtype=dtype, mode="r")
    for start in range(0, len(tokens), _SCAN_BLOCK):
        block = tokens[start : start + _SCAN_BLOCK]
        top = int(block.max())
        if top >= vocab_size:
            position = start + int(np.argmax(block >= vocab_size))
            raise ScalingLabError(
                f"{file} holds token id {top:,} (at token {position:,}), not below the "
                f"vocabulary size {vocab_size:,}; check --data-dtype {dtype} and --vocab"
            )
    return ShardedStream([tokens])
