"""``scalinglab data prepare``: a corpus of any size tokenized into memory-mapped shards.

The output folder holds ``tokenizer.json``, shard files ``train-00000.bin``,
``val-00000.bin``, ... (raw ``uint16`` when the vocabulary has at most 65,536 tokens,
else ``uint32``; each document's tokens followed by the end-of-text token) and
``index.json``, the manifest :mod:`scalinglab.data.prepared` reads.

How it stays within memory and uses the cores: documents are streamed from the source
(:mod:`scalinglab.data.sources`), grouped into chunks of about ``chunk_chars`` characters
and tokenized by a process pool with at most two chunks per worker in flight; the main
process writes a shard whenever ``shard_tokens`` tokens of a split have accumulated. Peak
memory therefore depends on the chunk and shard sizes and the number of workers, not on
the corpus.

How a killed preparation resumes: a shard is written to a temporary file and renamed
(:mod:`scalinglab.io`), then recorded in ``index.json`` (itself replaced atomically) with
the cursor of its split, (chunk number, token offset in that chunk), where the next shard
begins. Whenever one split writes a full shard, the other writes what it has buffered
as a shorter shard, so the cursors stay within one chunk of each other. A re-run with
the same settings keeps every recorded shard untouched, skips the chunks before the
earliest cursor without tokenizing them (so it redoes at most about one chunk), and goes
on; chunking and tokenization are deterministic, so the result equals an uninterrupted
run's.

Validation split: a document is in ``val`` when its content hash says so
(:func:`scalinglab.data.shards.is_validation_document`, ``val_fraction`` of documents),
the rule the in-memory pipeline uses; identical documents always land on the same side.

The tokenizer is trained (byte-level BPE, the family's scheme) on the first
``sample_bytes`` bytes of documents, or given: a ``tokenizer.json`` file of Hugging Face
``tokenizers`` or a Hugging Face tokenizer name (online or in the HF cache).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from scalinglab.data.shards import DEFAULT_VAL_FRACTION, is_validation_document
from scalinglab.data.sources import MAX_DOC_CHARS, iter_documents, source_fingerprint
from scalinglab.data.tokenizer import GPT_EOS, train_tokenizer
from scalinglab.errors import ScalingLabError, disk_full_names
from scalinglab.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from scalinglab.models.families import get_family

INDEX_NAME = "index.json"
TOKENIZER_NAME = "tokenizer.json"
FORMAT = "scalinglab-tokens"
VERSION = 1
SPLITS = ("train", "val")
DEFAULT_SHARD_TOKENS = 1 << 24
DEFAULT_SAMPLE_BYTES = 20_000_000
DEFAULT_CHUNK_CHARS = 1 << 20
DEFAULT_VOCAB_SIZE = 4096
#: End-of-text tokens looked for, in order, in a given tokenizer.
EOS_CANDIDATES = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "[SEP]")


@dataclass(frozen=True)
class PrepareResult:
    """What a preparation produced; ``shards_written`` counts the shards written by this
    call, ``shards_kept`` those a killed earlier call had finished (never rewritten);
    ``tokens_per_second`` is tokens tokenized by this call per wall second."""

    out: Path
    vocab_size: int
    dtype: str
    tokens: dict[str, int]
    shards_written: int
    shards_kept: int
    seconds: float
    tokens_per_second: float


def prepare_corpus(
    source: str,
    out: str | Path,
    *,
    family: str = "gpt",
    vocab_size: int | None = None,
    tokenizer: str | None = None,
    sample_bytes: int = DEFAULT_SAMPLE_BYTES,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    workers: int | None = None,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    on_shard: Callable[[str, dict[str, Any]], None] | None = None,
) -> PrepareResult:
    """Tokenize ``source`` into shards under ``out`` (resuming a killed run there).

    ``vocab_size`` (tokens) sizes a trained tokenizer; ``tokenizer`` names a given one
    instead (a tokenizer.json path or a Hugging Face name). ``workers`` processes
    tokenize (default: the CPU count; 1 tokenizes in this process). ``on_shard(split,
    entry)`` is called after each shard is recorded.
    """
    started = time.perf_counter()
    settings = _settings(
        source, family, vocab_size, tokenizer, sample_bytes, shard_tokens, val_fraction,
        chunk_chars,
    )  # fmt: skip
    folder = Path(out).expanduser()
    with disk_full_names(folder):
        index = _open_index(folder, settings)
        if not index["complete"]:
            index = _run(source, folder, index, workers or os.cpu_count() or 1, on_shard)
    entries = [e for s in SPLITS for e in index["splits"][s]["shards"]]
    new = [e for e in entries if e.get("new")]
    produced = sum(e["tokens"] for e in new)
    seconds = time.perf_counter() - started
    return PrepareResult(
        out=folder,
        vocab_size=index["vocab_size"],
        dtype=index["dtype"],
        tokens={s: index["splits"][s]["tokens"] for s in SPLITS},
        shards_written=len(new),
        shards_kept=len(entries) - len(new),
        seconds=seconds,
        tokens_per_second=produced / seconds if seconds > 0 else 0.0,
    )


def _settings(
    source: str,
    family: str,
    vocab_size: int | None,
    tokenizer: str | None,
    sample_bytes: int,
    shard_tokens: int,
    val_fraction: float,
    chunk_chars: int,
) -> dict[str, Any]:
    """Every input the output depends on (checked on resume); errors for bad values."""
    spec = get_family(family)
    if spec.objective != "causal":
        raise ScalingLabError(
            f"prepared data serves causal families (gpt, llama); {family} ({spec.objective}) "
            "needs its special tokens: train it from --corpus instead"
        )
    if tokenizer is not None and vocab_size is not None:
        raise ScalingLabError(
            "--vocab-size sizes a trained tokenizer; a given --tokenizer has its own, "
            "so give one of the two"
        )
    if tokenizer is None and (vocab_size or DEFAULT_VOCAB_SIZE) < 300:
        raise ScalingLabError(
            f"vocabulary size {vocab_size} is too small; use at least 300 (256 bytes + merges)"
        )
    for name, value in (("shard tokens", shard_tokens), ("sample bytes", sample_bytes)):
        if value < 1:
            raise ScalingLabError(f"{name} must be at least 1, got {value}")
    if not 0.0 < val_fraction < 1.0:
        raise ScalingLabError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    given = str(Path(tokenizer).expanduser().resolve()) if _is_file(tokenizer) else tokenizer
    return {
        "source": source_fingerprint(source),
        "tokenizer_kind": spec.tokenizer,
        "vocab_size": None if tokenizer else vocab_size or DEFAULT_VOCAB_SIZE,
        "tokenizer": given,
        "sample_bytes": None if tokenizer else int(sample_bytes),
        "shard_tokens": int(shard_tokens),
        "val_fraction": float(val_fraction),
        "chunk_chars": int(chunk_chars),
        "max_doc_chars": MAX_DOC_CHARS,
    }


def _is_file(name: str | None) -> bool:
    return name is not None and Path(name).expanduser().is_file()


# ---- the index ------------------------------------------------------------------------


def _open_index(folder: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The index of a preparation with ``settings`` in ``folder``: the one there (to
    resume or return), or a new one after writing the tokenizer."""
    path = folder / INDEX_NAME
    if path.exists():
        index = read_index(folder)
        if index.get("settings") != settings:
            changed = sorted(k for k in settings if index.get("settings", {}).get(k) != settings[k])
            raise ScalingLabError(
                f"{folder} holds a preparation with other settings ({', '.join(changed)} "
                "differ); give another --out or delete it to start again"
            )
        tokenizer = folder / index["tokenizer"]["file"]
        if not tokenizer.is_file() or _sha256(tokenizer) != index["tokenizer"]["sha256"]:
            raise ScalingLabError(
                f"{tokenizer} is missing or changed since {folder / INDEX_NAME} was written; "
                "delete the folder to start again"
            )
        _remove_temporaries(folder)
        return index
    _check_empty(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer, separator, origin = _obtain_tokenizer(settings)
    tokenizer.no_truncation()  # a document is tokenized whole, never cut or padded
    tokenizer.no_padding()
    atomic_write_text(folder / TOKENIZER_NAME, tokenizer.to_str())
    vocab = tokenizer.get_vocab_size()
    index = {
        "format": FORMAT,
        "version": VERSION,
        "complete": False,
        "vocab_size": vocab,
        "dtype": "uint16" if vocab <= 2**16 else "uint32",
        "tokenizer": {
            "file": TOKENIZER_NAME,
            "kind": settings["tokenizer_kind"],
            "origin": origin,
            "separator": separator,
            "separator_id": tokenizer.token_to_id(separator),
            "sha256": _sha256(folder / TOKENIZER_NAME),
        },
        "settings": settings,
        "splits": {s: {"shards": [], "tokens": 0, "cursor": [0, 0]} for s in SPLITS},
    }
    atomic_write_json(path, index)
    return index


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_index(folder: str | Path) -> dict[str, Any]:
    """The ``index.json`` of a prepared folder, checked to be one."""
    path = Path(folder) / INDEX_NAME
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ScalingLabError(f"cannot read {path} ({error}); prepare the data again") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise ScalingLabError(f"{path} is not a scalinglab token index")
    if index.get("version") != VERSION:
        raise ScalingLabError(
            f"{path} has index version {index.get('version')}, this scalinglab reads "
            f"{VERSION}; prepare the data again"
        )
    return index


def _check_empty(folder: Path) -> None:
    """Refuse to write into a folder holding anything but a tokenizer or temporaries
    left by a preparation killed before its first index."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise ScalingLabError(f"--out {folder} is a file; give a folder")
    foreign = [p.name for p in folder.iterdir() if not _ours(p.name)]
    if foreign:
        raise ScalingLabError(
            f"--out {folder} is not empty and holds no {INDEX_NAME} "
            f"(e.g. {sorted(foreign)[0]}); give a new folder"
        )
    _remove_temporaries(folder)


def _ours(name: str) -> bool:
    return name == TOKENIZER_NAME or (name.startswith(".") and ".tmp" in name)


def _remove_temporaries(folder: Path) -> None:
    """Delete the temporary files a killed write left behind."""
    for path in folder.iterdir():
        if path.name.startswith(".") and ".tmp" in path.name:
            path.unlink(missing_ok=True)


# ---- the tokenizer --------------------------------------------------------------------


def _obtain_tokenizer(settings: dict[str, Any]) -> tuple[Tokenizer, str, str]:
    """The tokenizer, its end-of-text token and where it came from."""
    given = settings["tokenizer"]
    if given is None:
        sample = _sample(settings["source"]["source"], settings["sample_bytes"])
        tokenizer = train_tokenizer(sample, settings["tokenizer_kind"], settings["vocab_size"])
        kind, size = settings["tokenizer_kind"], settings["sample_bytes"]
        return tokenizer, GPT_EOS, f"trained ({kind}) on the first {size:,} bytes"
    if _is_file(given):
        try:
            tokenizer = Tokenizer.from_file(given)
        except Exception as error:  # tokenizers raises a bare Exception for a bad file
            raise ScalingLabError(
                f"--tokenizer {given} is not a Hugging Face tokenizers JSON file ({error})"
            ) from None
        return tokenizer, _end_of_text(tokenizer, None, given), f"file {given}"
    return (*_huggingface_tokenizer(given), f"Hugging Face {given}")


def _sample(source: str, sample_bytes: int) -> list[str]:
    """The first documents of ``source`` holding ``sample_bytes`` bytes of UTF-8 (the
    last one cut to fit)."""
    sample, size = [], 0
    for document in iter_documents(source):
        encoded = document.encode("utf-8")[: sample_bytes - size]
        sample.append(encoded.decode("utf-8", errors="ignore"))
        size += len(encoded)
        if size >= sample_bytes:
            break
    return sample


def _end_of_text(tokenizer: Tokenizer, preferred: str | None, name: str) -> str:
    for token in (preferred, *EOS_CANDIDATES):
        if token and tokenizer.token_to_id(token) is not None:
            return token
    raise ScalingLabError(
        f"tokenizer {name} has no end-of-text token (looked for "
        f"{', '.join(EOS_CANDIDATES)}); add one as a special token"
    )


def _huggingface_tokenizer(name: str) -> tuple[Tokenizer, str]:
    """A Hugging Face tokenizer by name (online or cached): its fast backend and
    end-of-text token."""
    try:
        from transformers import AutoTokenizer

        loaded = AutoTokenizer.from_pretrained(name)
    except Exception as error:  # offline, unknown name, auth: many types
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ScalingLabError(
            f"--tokenizer {name!r} is neither a file nor a Hugging Face tokenizer that could "
            f"be loaded ({first}); check the path, or the name and that you are online or "
            "it is in the HF cache"
        ) from None
    if not getattr(loaded, "is_fast", False):
        raise ScalingLabError(f"tokenizer {name!r} has no fast (tokenizers) version")
    backend = loaded.backend_tokenizer
    return backend, _end_of_text(backend, loaded.eos_token or loaded.sep_token, name)


# ---- tokenizing and writing -----------------------------------------------------------


def encode_documents(
    tokenizer: Tokenizer, separator_id: int, documents: list[str], val_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (uint32) of the training and validation documents among ``documents``,
    in order, each document followed by ``separator_id``."""
    splits: dict[str, list[str]] = {"train": [], "val": []}
    for doc in documents:
        splits["val" if is_validation_document(doc, val_fraction) else "train"].append(doc)
    out = []
    for name in SPLITS:
        encodings = tokenizer.encode_batch(splits[name], add_special_tokens=False)
        ids = [np.asarray([*e.ids, separator_id], dtype=np.uint32) for e in encodings]
        out.append(np.concatenate(ids) if ids else np.zeros(0, dtype=np.uint32))
    return out[0], out[1]


_WORKER: tuple[Tokenizer, int, float] | None = None


def _init_worker(tokenizer_path: str, separator_id: int, val_fraction: float) -> None:
    """Load the tokenizer once per worker; one thread each, as the pool parallelizes."""
    global _WORKER
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _WORKER = (Tokenizer.from_file(tokenizer_path), separator_id, val_fraction)


def _encode_in_worker(documents: list[str]) -> tuple[np.ndarray, np.ndarray]:
    assert _WORKER is not None
    tokenizer, separator_id, val_fraction = _WORKER
    return encode_documents(tokenizer, separator_id, documents, val_fraction)


def _chunks(documents: Iterable[str], chunk_chars: int) -> Iterator[list[str]]:
    """Consecutive documents grouped until a group holds ``chunk_chars`` characters."""
    chunk: list[str] = []
    size = 0
    for document in documents:
        chunk.append(document)
        size += len(document)
        if size >= chunk_chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _encoded_chunks(
    chunks: Iterable[tuple[int, list[str]]], folder: Path, index: dict[str, Any], workers: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(number, train ids, val ids)`` of each numbered chunk, in order: in this process
    for one worker, else from a process pool with at most two chunks per worker in flight
    (so memory stays bounded)."""
    separator_id = index["tokenizer"]["separator_id"]
    val_fraction = index["settings"]["val_fraction"]
    if workers <= 1:
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_NAME))
        for number, chunk in chunks:
            yield number, *encode_documents(tokenizer, separator_id, chunk, val_fraction)
        return
    init = (str(folder / TOKENIZER_NAME), separator_id, val_fraction)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, initializer=_init_worker, initargs=init) as pool:
        pending: deque[tuple[int, Future[tuple[np.ndarray, np.ndarray]]]] = deque()
        for number, chunk in chunks:
            pending.append((number, pool.submit(_encode_in_worker, chunk)))
            if len(pending) >= 2 * workers:
                first, future = pending.popleft()
                yield first, *future.result()
        while pending:
            first, future = pending.popleft()
            yield first, *future.result()


class _SplitWriter:
    """Accumulates one split's tokens and writes a shard per ``shard_tokens``, resuming
    after the shards the index already records."""

    def __init__(self, split: str, folder: Path, index: dict[str, Any], save: Callable) -> None:
        self.split = split
        self.folder = folder
        self.state = index["splits"][split]
        self.shard_tokens = index["settings"]["shard_tokens"]
        self.dtype = np.dtype(index["dtype"])
        self.save = save
        self.buffer: list[np.ndarray] = []
        self.buffered = 0

    @property
    def start_chunk(self) -> int:
        return self.state["cursor"][0]

    def add(self, chunk: int, ids: np.ndarray) -> int:
        """Add chunk number ``chunk``'s tokens, skipping those already in shards; returns
        the number of full shards this wrote."""
        cursor_chunk, cursor_offset = self.state["cursor"]
        if chunk < cursor_chunk:
            return 0
        written = 0
        base = cursor_offset if chunk == cursor_chunk else 0
        taken = base
        ids = ids[base:]
        while self.buffered + len(ids) >= self.shard_tokens:
            need = self.shard_tokens - self.buffered
            self.buffer.append(ids[:need])
            ids, taken = ids[need:], taken + need
            self._flush(next_cursor=[chunk, taken])
            written += 1
        if len(ids):
            self.buffer.append(ids)
            self.buffered += len(ids)
        return written

    def flush_through(self, chunk: int) -> None:
        """Write what is buffered (every token up to chunk number ``chunk``) as a
        shorter shard: at the end, and whenever another split writes a shard."""
        if self.buffered:
            self._flush(next_cursor=[chunk + 1, 0])

    def _flush(self, next_cursor: list[int]) -> None:
        tokens = np.concatenate(self.buffer).astype(self.dtype)
        name = f"{self.split}-{len(self.state['shards']):05d}.bin"
        atomic_write_bytes(self.folder / name, tokens.tobytes())
        entry = {"file": name, "tokens": len(tokens), "new": True}
        self.state["shards"].append(entry)
        self.state["tokens"] += len(tokens)
        self.state["cursor"] = next_cursor
        self.buffer, self.buffered = [], 0
        self.save(self.split, entry)


def _run(
    source: str,
    folder: Path,
    index: dict[str, Any],
    workers: int,
    on_shard: Callable[[str, dict[str, Any]], None] | None,
) -> dict[str, Any]:
    """Tokenize the chunks not yet in shards, write the shards, complete the index."""
    for split in SPLITS:
        for entry in index["splits"][split]["shards"]:
            entry.pop("new", None)

    def save(split: str, entry: dict[str, Any]) -> None:
        _write_index(folder, index)
        if on_shard is not None:
            on_shard(split, entry)

    writers = {s: _SplitWriter(s, folder, index, save) for s in SPLITS}
    start = min(w.start_chunk for w in writers.values())
    chunks = _chunks(iter_documents(source), index["settings"]["chunk_chars"])
    todo = ((n, c) for n, c in enumerate(chunks) if n >= start)
    end = start - 1
    for end, train_ids, val_ids in _encoded_chunks(todo, folder, index, workers):
        wrote = {"train": writers["train"].add(end, train_ids)}
        wrote["val"] = writers["val"].add(end, val_ids)
        if any(wrote.values()):  # keep the cursors together: a resume redoes one chunk
            for split, writer in writers.items():
                if not wrote[split]:
                    writer.flush_through(end)
    for writer in writers.values():
        writer.flush_through(end)
    for split in SPLITS:
        if not index["splits"][split]["tokens"]:
            raise ScalingLabError(
                f"no document of {source} fell into the {split} split; "
                "add documents or change --val-fraction"
            )
    index["complete"] = True
    _write_index(folder, index)
    return index


def _write_index(folder: Path, index: dict[str, Any]) -> None:
    """Replace ``index.json`` atomically; the ``new`` marks stay in memory only."""
    stored = {
        **index,
        "splits": {
            s: {
                **index["splits"][s],
                "shards": [
                    {k: v for k, v in e.items() if k != "new"} for e in index["splits"][s]["shards"]
                ],
            }
            for s in SPLITS
        },
    }
    atomic_write_json(folder / INDEX_NAME, stored)
