"""Documents of a corpus of any size, streamed one at a time.

:func:`iter_documents` yields the same documents as :func:`scalinglab.data.corpus.load_corpus`
for the same source (``.txt`` split at blank lines, ``.jsonl`` field ``text``, ``.parquet``
column ``text``, a folder of those, ``hf:NAME[:CONFIG]``), but never holds more than one
document in memory, so ``scalinglab data prepare`` reads corpora larger than RAM. A
document longer than ``MAX_DOC_CHARS`` characters is cut at line boundaries into pieces
of at most that length (a single line longer than that is cut where the limit falls),
each piece a document of its own: a 10 GB file with no blank line streams as well.

:func:`source_fingerprint` describes a source cheaply (paths, sizes, modification times),
so that resuming a preparation can tell whether its input changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scalinglab.errors import InputError, ScalingLabError, not_utf8
from scalinglab.jsonl import iter_jsonl_objects

MAX_DOC_CHARS = 1 << 20
_SUFFIXES = (".txt", ".jsonl", ".parquet")
_PARQUET_BATCH_ROWS = 1024


def source_files(source: str) -> list[Path]:
    """The files a local ``source`` (file or folder) reads, sorted; errors for a missing
    path, an empty folder or an unknown suffix."""
    path = Path(source).expanduser()
    if not path.exists():
        raise ScalingLabError(
            f"corpus {source!r} is neither 'hf:NAME' nor an existing file or folder; "
            "give a path to .txt/.jsonl/.parquet data or hf:NAME"
        )
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _SUFFIXES)
        if not files:
            raise ScalingLabError(f"folder {path} holds no .txt, .jsonl or .parquet files")
        return files
    if path.suffix not in _SUFFIXES:
        raise ScalingLabError(
            f"cannot read corpus file {path}: use a .txt, .jsonl or .parquet file or a folder"
        )
    return [path]


def source_fingerprint(source: str) -> dict[str, Any]:
    """What identifies ``source`` without reading it: for local data each file's path,
    size (bytes) and modification time (ns); for ``hf:`` the name."""
    if source.startswith("hf:"):
        return {"source": source}
    files = source_files(source)
    return {
        "source": str(Path(source).expanduser().resolve()),
        "files": [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files],
    }


def iter_documents(source: str) -> Iterator[str]:
    """Yield the non-empty documents of ``source`` (stripped), in order, one at a time."""
    if source.startswith("hf:"):
        raw: Iterator[str] = huggingface_documents(source[3:])
    else:
        files = source_files(source)
        in_folder = Path(source).expanduser().is_dir()
        raw = (doc for file in files for doc in _file_documents(file, whole=in_folder))
    for document in raw:
        document = document.strip()
        if document:
            yield document


def _file_documents(path: Path, *, whole: bool) -> Iterator[str]:
    if path.suffix == ".txt":
        return _text_documents(path, split_at_blank_lines=not whole)
    if path.suffix == ".jsonl":
        return _jsonl_documents(path)
    return _parquet_documents(path)


def _text_documents(path: Path, *, split_at_blank_lines: bool) -> Iterator[str]:
    """Documents of a text file: split at blank lines (or the whole file in a folder),
    cut into pieces of at most ``MAX_DOC_CHARS`` characters."""
    try:
        with path.open(encoding="utf-8", newline=None) as handle:
            lines: list[str] = []
            size = 0
            while line := handle.readline(MAX_DOC_CHARS):
                if split_at_blank_lines and line == "\n":
                    yield "".join(lines)
                    lines, size = [], 0
                    continue
                if size + len(line) > MAX_DOC_CHARS and lines:
                    yield "".join(lines)
                    lines, size = [], 0
                lines.append(line)
                size += len(line)
            yield "".join(lines)
    except UnicodeDecodeError as error:
        raise not_utf8(path, error) from None


def _jsonl_documents(path: Path) -> Iterator[str]:
    for number, record in iter_jsonl_objects(path, example='{"text": "..."}'):
        text = record.get("text")
        if not isinstance(text, str):
            raise InputError(
                "the line has no string field 'text'",
                fix='write each document as {"text": "..."}',
                file=str(path),
                line=number,
                column="text",
            )
        yield text


def _parquet_documents(path: Path) -> Iterator[str]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ScalingLabError(
            f"reading {path} needs pyarrow; pip install 'scalinglab[train]'"
        ) from None
    file = pq.ParquetFile(path)
    if "text" not in file.schema_arrow.names:
        raise InputError(
            f"no column 'text' (columns: {', '.join(file.schema_arrow.names)})",
            fix="store the documents in a string column named 'text'",
            file=str(path),
        )
    for batch in file.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=["text"]):
        yield from (t for t in batch.column(0).to_pylist() if isinstance(t, str))


def huggingface_documents(spec: str) -> Iterator[str]:
    """The ``train`` split of a Hugging Face dataset, streamed (``streaming=True``)."""
    try:
        import datasets
    except ImportError:
        raise ScalingLabError(
            "hf: corpora need the package datasets; pip install 'scalinglab[train]'"
        ) from None
    name, _, config = spec.partition(":")
    try:
        dataset = datasets.load_dataset(name, config or None, split="train", streaming=True)
    except Exception as error:  # datasets raises many types: offline, missing, auth
        first = str(error).splitlines()[0] if str(error) else ""
        raise ScalingLabError(
            f"could not load Hugging Face dataset {name!r} ({type(error).__name__}: {first}); "
            "check the name and that you are online or the dataset is in the HF cache"
        ) from None
    for row in dataset:
        text = row.get("text")
        if text is None and "text" not in row:
            raise ScalingLabError(
                f"Hugging Face dataset {name!r} has no column 'text' "
                f"(columns: {', '.join(row)}); save it to JSONL with a text field"
            )
        if isinstance(text, str):
            yield text
