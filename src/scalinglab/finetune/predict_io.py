"""The file side of ``scalinglab predict``: read texts, predict, write predictions.

Inputs: ``.txt`` (one text per line; blank lines are skipped), or a ``.csv``, ``.jsonl``
(one object per line), ``.tsv`` or ``.parquet`` table (read by
:func:`scalinglab.rows.read_rows`) with the text in a named column (``text`` by
default). Outputs, by extension: ``.csv`` (``text``, ``label``, then one ``p_<label>``
column per label) or ``.jsonl`` (``{"text", "label", "probabilities": {label: p}}``).
Rows stay in input order and every input row gets exactly one output row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scalinglab.errors import ScalingLabError, not_utf8
from scalinglab.finetune.predictor import Prediction, Predictor
from scalinglab.rows import read_rows

INPUT_SUFFIXES = (".txt", ".csv", ".jsonl", ".tsv", ".parquet")
OUTPUT_SUFFIXES = (".csv", ".jsonl")


@dataclass(frozen=True)
class PredictRun:
    """What one ``scalinglab predict`` call did: texts, labels, predictions, output file."""

    texts: list[str]
    labels: list[str]
    predictions: list[Prediction]
    output: Path | None


def run_predict(
    model_dir: str | Path,
    texts: Sequence[str] = (),
    *,
    input_path: str | Path | None = None,
    output_path: str | Path | None = None,
    text_column: str = "text",
    batch_size: int = 64,
    num_threads: int | None = None,
    device: str = "auto",
) -> PredictRun:
    """Predict ``texts`` and the texts of ``input_path``, optionally writing ``output_path``.

    The texts given directly come first, then the file's, in order. The output format
    follows the extension of ``output_path`` (``.csv`` or ``.jsonl``). ``device``: auto
    (CUDA when present), cpu, cuda or cuda:N.
    """
    texts = list(texts)
    if input_path is not None:
        texts += read_texts(input_path, text_column=text_column)
    if not texts:
        raise ScalingLabError("no texts to predict: pass texts as arguments or --input FILE")
    if output_path is not None:
        _check_suffix(Path(output_path), OUTPUT_SUFFIXES, "output")
    predictor = Predictor(model_dir, device=device, num_threads=num_threads)
    predictions = predictor.predict(texts, batch_size=batch_size)
    if output_path is not None:
        write_predictions(output_path, texts, predictions, predictor.labels)
    return PredictRun(
        texts=texts,
        labels=predictor.labels,
        predictions=predictions,
        output=None if output_path is None else Path(output_path),
    )


def read_texts(path: str | Path, *, text_column: str = "text") -> list[str]:
    """The texts of a ``.txt``, ``.csv``, ``.jsonl``, ``.tsv`` or ``.parquet`` file, in
    file order."""
    path = Path(path)
    suffix = _check_suffix(path, INPUT_SUFFIXES, "input")
    if not path.is_file():
        raise ScalingLabError(f"input file {path} does not exist")
    if suffix == ".txt":
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise not_utf8(path, error) from None
        return [line for line in lines if line.strip()]
    return _read_table(path, text_column)


def write_predictions(
    path: str | Path,
    texts: Sequence[str],
    predictions: Sequence[Prediction],
    labels: Sequence[str],
) -> Path:
    """Write one row per text (``.csv`` or ``.jsonl`` by extension); returns the path."""
    path = Path(path)
    suffix = _check_suffix(path, OUTPUT_SUFFIXES, "output")
    if len(texts) != len(predictions):
        raise ValueError(f"{len(texts)} texts but {len(predictions)} predictions")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        if suffix == ".csv":
            writer = csv.writer(handle)
            writer.writerow(["text", "label", *(f"p_{label}" for label in labels)])
            for text, prediction in zip(texts, predictions, strict=True):
                probabilities = [prediction.probabilities[label] for label in labels]
                writer.writerow([text, prediction.label, *probabilities])
        else:
            for text, prediction in zip(texts, predictions, strict=True):
                row = {
                    "text": text,
                    "label": prediction.label,
                    "probabilities": prediction.probabilities,
                }
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _read_table(path: Path, text_column: str) -> list[str]:
    """The ``text_column`` cells of a CSV/TSV/JSONL/Parquet file, each a string."""
    table = read_rows(path, example=f'{{"{text_column}": "..."}}')
    table.require_columns([text_column], fix="pass --text-column with the name of the text column")
    texts = []
    for row in table.rows:
        value = row.values.get(text_column)
        if not isinstance(value, str):
            raise table.error(
                row,
                f"no string field {text_column!r}",
                fix="give every row a string text or pass --text-column",
                column=text_column,
            )
        texts.append(value)
    return texts


def _check_suffix(path: Path, allowed: tuple[str, ...], role: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise ScalingLabError(
            f"{role} file {path} has extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(allowed)}"
        )
    return suffix
