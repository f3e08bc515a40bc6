"""Runs tables: read CSV, Parquet or JSONL, map column aliases, validate every cell.

A runs table has one row per evaluated checkpoint and at least the columns ``N``
(parameters), ``D`` (training tokens seen) and ``loss`` (held-out cross-entropy, nats per
token). ``C`` (training FLOPs) is derived as ``6 N D`` when missing. Common aliases
(``params``, ``tokens``, ``flops``, ``Model Size``, ``Training FLOP``, ``val_loss`` ...)
are accepted, case-, space- and punctuation-insensitively, and the mapping is reported.

Every problem is one :class:`~scalinglab.errors.InputError` naming the file, the line (a
CSV header is line 1, so the first data row is line 2; a JSONL row is its line; Parquet
and in-memory tables name the 0-based row index) and the column, and saying how to fix
it. Runs whose ``status`` is ``diverged`` are excluded with a warning, never fitted.

>>> table = runs_table_from_records(
...     [{"params": 1e8, "tokens": 2e9, "val_loss": 3.1}, {"params": 4e8, "tokens": 8e9,
...      "val_loss": 2.7}])
>>> table.column_mapping
{'params': 'N', 'tokens': 'D', 'val_loss': 'loss'}
>>> float(table.df["C"].iloc[0]), table.derived
(1.2e+18, ['C = 6 N D'])
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import InputError
from scalinglab.rows import SEPARATOR_NAMES, RowFile, read_rows

# Canonical column -> accepted spellings. Matching ignores case and every character that
# is not a letter or a digit, so "Model Size", "model_size" and "model-size" are one.
ALIASES: dict[str, tuple[str, ...]] = {
    "N": (
        "N",
        "params",
        "n_params",
        "parameters",
        "num_params",
        "n_parameters",
        "num_parameters",
        "param_count",
        "model_size",
        "Model Size",
    ),
    "n_params_nonembed": (
        "n_params_nonembed",
        "params_nonembed",
        "non_embedding_params",
        "nonembedding_parameters",
        "n_nonembed",
    ),
    "D": (
        "D",
        "tokens",
        "n_tokens",
        "num_tokens",
        "train_tokens",
        "training_tokens",
        "tokens_seen",
        "data_size",
        "dataset_size",
    ),
    "C": (
        "C",
        "flops",
        "compute",
        "Training FLOP",
        "training_flops",
        "train_flops",
        "total_flops",
        "compute_flops",
    ),
    "loss": (
        "loss",
        "val_loss",
        "eval_loss",
        "validation_loss",
        "test_loss",
        "heldout_loss",
        "loss_nats",
    ),
    "unique_tokens": ("unique_tokens", "n_unique_tokens", "unique_data", "U_D"),
    "epochs": ("epochs", "n_epochs", "num_epochs"),
    "run_id": ("run_id", "run", "run_name", "id"),
    "step": ("step", "steps", "global_step", "iteration"),
    "status": ("status",),
}

MEANING: dict[str, str] = {
    "N": "parameters",
    "n_params_nonembed": "parameters without embeddings",
    "D": "training tokens seen",
    "C": "training FLOPs",
    "loss": "held-out loss in nats/token",
    "unique_tokens": "distinct training tokens",
    "epochs": "passes over the unique tokens",
    "step": "optimizer step",
}
NUMERIC = tuple(MEANING)
# Columns whose cells may be empty (NaN); every other numeric column needs a value.
OPTIONAL = ("n_params_nonembed", "unique_tokens", "epochs", "step")
POSITIVE = ("N", "n_params_nonembed", "D", "C", "unique_tokens", "epochs")
EXAMPLES: dict[str, tuple[str, int]] = {"chinchilla": ("chinchilla_epoch_2024.csv", 5)}
_EXAMPLE_ROW = '{"N": 1e8, "D": 2e9, "loss": 3.1}'


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_CANONICAL_BY_KEY = {_key(alias): canon for canon, names in ALIASES.items() for alias in names}


@dataclass
class RunsTable:
    """A validated runs table.

    ``df`` has the canonical columns (``N``, ``D``, ``C``, ``loss`` and any of
    ``n_params_nonembed``, ``unique_tokens``, ``epochs``, ``run_id``, ``step``,
    ``status``) as floats/strings, plus unrecognised columns under their own names.
    ``column_mapping`` maps each recognised original column name to its canonical name;
    ``derived`` says which columns were computed (e.g. ``"C = 6 N D"``); ``locations``
    gives, for each row of ``df``, where it came from (``"line 7"`` or ``"row 3"``).
    """

    df: pd.DataFrame
    source: str
    column_mapping: dict[str, str]
    derived: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.df)


@dataclass
class _Raw:
    """Cells as read, before validation: where each row came from and its values."""

    source: str
    columns: list[str]
    rows: list[list[Any]]
    positions: list[int]
    by_line: bool  # True: positions are file lines; False: 0-based row indices
    header_line: int | None = None
    notes: list[str] = field(default_factory=list)


def read_runs_table(
    path: str | Path, *, required: tuple[str, ...] = ("N", "D", "loss")
) -> RunsTable:
    """Read and validate a runs table from a ``.csv``, ``.tsv``, ``.jsonl`` or ``.parquet`` file.

    ``required`` names the canonical columns the caller needs (``C`` is never required:
    it is derived). Raises :class:`InputError` for the first problem found, in file order.
    """
    return _validate(_raw_from_rows(read_rows(path, example=_EXAMPLE_ROW)), required)


def runs_table_from_records(
    records: Iterable[Mapping[str, Any]],
    *,
    source: str = "<records>",
    required: tuple[str, ...] = ("N", "D", "loss"),
) -> RunsTable:
    """Validate in-memory rows (dicts, e.g. a registry export) with the same rules as files.

    Errors name ``source`` and the 0-based row index.
    """
    rows = list(records)
    columns: list[str] = []
    for row in rows:
        columns.extend(str(name) for name in row if str(name) not in columns)
    values = [[row.get(name) for name in columns] for row in rows]
    raw = _Raw(source, columns, values, list(range(len(rows))), by_line=False)
    return _validate(raw, required)


def runs_table_from_frame(
    frame: pd.DataFrame,
    *,
    source: str = "<table>",
    required: tuple[str, ...] = ("N", "D", "loss"),
) -> RunsTable:
    """Validate a pandas DataFrame with the same rules as files; errors name the row index."""
    return _validate(_raw_from_frame(frame, source), required)


def example_runs_table(name: str = "chinchilla") -> RunsTable:
    """A bundled runs table, cleaned as its authors did.

    ``"chinchilla"``: the 245 points Epoch AI (Besiroglu et al. 2024) extracted from
    Hoffmann et al. 2022, Figure 4, without the 5 highest losses (as Epoch did): 240 points.
    """
    if name not in EXAMPLES:
        raise InputError(
            f"no bundled example called {name!r}",
            fix=f"use one of: {', '.join(EXAMPLES)}",
        )
    filename, drop_highest = EXAMPLES[name]
    resource = resources.files("scalinglab").joinpath("resources", filename)
    with resources.as_file(resource) as path:
        table = read_runs_table(path)
    table.source = f"{filename} (bundled example)"
    keep = table.df["loss"].rank(method="first", ascending=False) > drop_highest
    table.df = table.df[keep].reset_index(drop=True)
    table.locations = [loc for loc, kept in zip(table.locations, keep, strict=True) if kept]
    table.notes.append(
        f"removed the {drop_highest} highest losses, as Epoch AI did: {len(table.df)} points"
    )
    return table


def require_points(table: RunsTable, n_params: int, form_name: str) -> None:
    """Raise :class:`InputError` when ``table`` has fewer runs than the law has parameters."""
    if len(table.df) < n_params:
        raise InputError(
            f"{len(table.df)} runs are fewer than the {n_params} parameters of the {form_name} law",
            fix=f"add runs (at least {n_params}) or choose a law with fewer parameters",
            file=table.source,
        )


def _raw_from_rows(table: RowFile) -> _Raw:
    """Cells of a file read by :func:`~scalinglab.rows.read_rows`, by line (Parquet: by
    row index); a CSV read as semicolon- or tab-separated may write decimal commas."""
    rows = [[row.values.get(name) for name in table.columns] for row in table.rows]
    by_line = table.format != "parquet"
    positions = [row.line if by_line else row.index for row in table.rows]
    raw = _Raw(str(table.path), table.columns, rows, positions, by_line, table.header_line)
    if table.format == "csv" and table.separator != ",":
        decimal = _decimal_commas(rows)
        raw.notes.append(
            f"read as {SEPARATOR_NAMES[table.separator]}-separated"
            + (" with decimal commas (3,14 = 3.14)" if decimal else "")
            + ", detected from the header"
        )
    return raw


def _decimal_commas(rows: list[list[Any]]) -> bool:
    """Replace ``3,14`` by ``3.14`` in every cell of ``rows`` that is a number written
    with a decimal comma; return whether any was."""
    found = False
    for row in rows:
        for i, cell in enumerate(row):
            if _DECIMAL_COMMA.match(cell):
                row[i] = cell.replace(",", ".")
                found = True
    return found


_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d*,\d+(?:[eE][+-]?\d+)?\s*$")


def _raw_from_frame(frame: pd.DataFrame, source: str) -> _Raw:
    columns = [str(name) for name in frame.columns]
    rows = [list(values) for values in frame.itertuples(index=False, name=None)]
    return _Raw(source, columns, rows, list(range(len(frame))), by_line=False)


def _validate(raw: _Raw, required: tuple[str, ...]) -> RunsTable:
    if not raw.rows:
        raise InputError(
            "no data rows (only a header)" if raw.columns else "the file is empty",
            fix="add one row per evaluated run, with at least the columns N, D and loss",
            file=raw.source,
        )
    mapping = _map_columns(raw, required)
    renamed = [mapping.get(name, name) for name in raw.columns]
    frame = pd.DataFrame(raw.rows, columns=renamed, dtype=object)
    positions = list(raw.positions)
    warnings: list[str] = []
    if "status" in frame:
        frame, positions, warning = _drop_diverged(frame, positions, raw)
        if warning:
            warnings.append(warning)
    _check_cells(frame, positions, raw)
    numeric = [name for name in NUMERIC if name in frame]
    for name in numeric:
        frame[name] = frame[name].map(_number).astype(float)
    for name in frame.columns:
        if name not in numeric and name not in ("run_id", "status"):
            frame[name] = _maybe_numeric(frame[name])
    derived = _derive(frame)
    _check_duplicates(frame, positions, raw)
    frame = frame.reset_index(drop=True)
    locations = [_location(raw, position) for position in positions]
    return RunsTable(frame, raw.source, mapping, derived, warnings, raw.notes, locations)


def _map_columns(raw: _Raw, required: tuple[str, ...]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for name in raw.columns:
        canonical = _CANONICAL_BY_KEY.get(_key(name))
        if canonical is None:
            continue
        clash = next((other for other, canon in mapping.items() if canon == canonical), None)
        if clash is not None:
            raise InputError(
                f"columns {clash!r} and {name!r} both mean {canonical}",
                fix="drop or rename one of them",
                file=raw.source,
                line=raw.header_line,
                column=name,
            )
        mapping[name] = canonical
    for canonical in required:
        if canonical not in mapping.values():
            found = ", ".join(repr(name) for name in raw.columns) or "none"
            aliases = ", ".join(ALIASES[canonical])
            raise InputError(
                f"no column for {canonical} ({MEANING.get(canonical, canonical)}); "
                f"found columns: {found}",
                fix=f"add a column named {canonical} or one of its aliases: {aliases}",
                file=raw.source,
                line=raw.header_line,
                column=canonical,
            )
    return mapping


def _drop_diverged(
    frame: pd.DataFrame, positions: list[int], raw: _Raw
) -> tuple[pd.DataFrame, list[int], str | None]:
    diverged = frame["status"].map(lambda v: isinstance(v, str) and v.strip().lower() == "diverged")
    if not diverged.any():
        return frame, positions, None
    where = [_location(raw, p) for p, bad in zip(positions, diverged, strict=True) if bad]
    shown = ", ".join(where[:10]) + (" ..." if len(where) > 10 else "")
    kept = frame[~diverged.to_numpy()]
    if kept.empty:
        raise InputError(
            "every run is marked diverged",
            fix="add runs that trained normally",
            file=raw.source,
            column=_original(raw, "status"),
        )
    warning = f"excluded {len(where)} diverged run(s) (status = diverged): {shown}"
    return kept, [p for p, bad in zip(positions, diverged, strict=True) if not bad], warning


def _check_cells(frame: pd.DataFrame, positions: list[int], raw: _Raw) -> None:
    """Raise for the first bad numeric cell, scanning rows in file order."""
    numeric = [name for name in NUMERIC if name in frame]
    for position, values in zip(
        positions, frame[numeric].itertuples(index=False, name=None), strict=True
    ):
        for name, value in zip(numeric, values, strict=True):
            problem, fix = _cell_problem(name, value)
            if problem:
                raise _error(raw, position, problem, fix, _original(raw, name))


def _cell_problem(name: str, value: Any) -> tuple[str | None, str]:
    number = _number(value)
    unit = MEANING[name]
    if number is _NOT_A_NUMBER:
        shown = _one_line(value)[:40]
        return (
            f"{shown!r} is not a number",
            f"write {name} ({unit}) as a plain number such as 1.3e9, or delete the row",
        )
    missing = number is None or (name != "loss" and math.isnan(number))
    if missing and name in OPTIONAL:
        return None, ""
    if missing:
        return f"{name} is empty", f"fill in {name} ({unit}) or delete the row"
    if name == "loss" and not math.isfinite(number):
        return (
            f"loss is {number} (NaN or infinite)",
            "mark a run that diverged with status=diverged (it is then excluded with a "
            "warning), otherwise fix or delete the row",
        )
    if name == "loss" and number <= 0:
        return (
            f"loss is {number:g} but a cross-entropy in nats/token is > 0",
            "fix the value or delete the row",
        )
    if name in POSITIVE and not (math.isfinite(number) and number > 0):
        return (
            f"{name} is {number:g} but must be a positive, finite number of {unit}",
            "fix the value or delete the row",
        )
    return None, ""


class _NotANumber:
    pass


_NOT_A_NUMBER = _NotANumber()


def _number(value: Any) -> Any:
    """A cell as a float, ``None`` when empty, ``_NOT_A_NUMBER`` for text or other junk."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool):
        return _NOT_A_NUMBER
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            return _NOT_A_NUMBER
    try:
        return float(value)  # int, float, numpy scalars, Decimal
    except (TypeError, ValueError):
        return _NOT_A_NUMBER


def _maybe_numeric(column: pd.Series) -> pd.Series:
    try:
        return pd.to_numeric(column)
    except (TypeError, ValueError):
        return column


def _derive(frame: pd.DataFrame) -> list[str]:
    derived = []
    if "C" not in frame:
        frame["C"] = 6.0 * frame["N"] * frame["D"]
        derived.append("C = 6 N D")
    if "epochs" in frame and "unique_tokens" not in frame:
        frame["unique_tokens"] = frame["D"] / frame["epochs"]
        derived.append("unique_tokens = D / epochs")
    elif "unique_tokens" in frame and "epochs" not in frame:
        frame["epochs"] = frame["D"] / frame["unique_tokens"]
        derived.append("epochs = D / unique_tokens")
    return derived


def _check_duplicates(frame: pd.DataFrame, positions: list[int], raw: _Raw) -> None:
    first_seen: dict[str, int] = {}
    for position, values in zip(positions, frame.itertuples(index=False, name=None), strict=True):
        key = repr(values)
        if key in first_seen:
            earlier = _location(raw, first_seen[key])
            raise _error(
                raw,
                position,
                f"this row repeats {earlier} exactly",
                "delete one of the two rows (or give real repeats distinct run_id values)",
            )
        first_seen[key] = position


def _error(
    raw: _Raw, position: int, problem: str, fix: str, column: str | None = None
) -> InputError:
    """An error at one row: by file line, or by row index written into the problem."""
    return InputError(
        problem if raw.by_line else f"{_location(raw, position)}: {problem}",
        fix=fix,
        file=raw.source,
        line=position if raw.by_line else None,
        column=column,
    )


def _location(raw: _Raw, position: int) -> str:
    return f"line {position}" if raw.by_line else f"row {position}"


def _original(raw: _Raw, canonical: str) -> str:
    """The user's name for a canonical column, as written in their file."""
    for name in raw.columns:
        if _CANONICAL_BY_KEY.get(_key(name)) == canonical:
            return name
    return canonical


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())
