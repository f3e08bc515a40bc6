"""Property tests of the runs-table parser: round trips and located corruptions."""

from __future__ import annotations

import csv
import json
import math
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.errors import InputError
from scalinglab.laws.runs_table import read_runs_table

positive = st.floats(min_value=1e-3, max_value=1e25, allow_nan=False, allow_infinity=False)
losses = st.floats(min_value=1e-3, max_value=20.0, allow_nan=False, allow_infinity=False)
run_ids = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8
)
rows = st.lists(
    st.tuples(positive, positive, losses, run_ids), min_size=1, max_size=25, unique_by=lambda r: r
)
FORMATS = ("csv", "jsonl", "parquet")


def write_table(folder: Path, fmt: str, records: list[dict[str, object]], blank: set[int]) -> Path:
    """Write ``records``; for CSV/JSONL put a blank line before each row index in ``blank``."""
    path = folder / f"runs.{fmt}"
    if fmt == "parquet":
        pd.DataFrame(records).to_parquet(path)
        return path
    with path.open("w", newline="", encoding="utf-8") as handle:
        if fmt == "csv":
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
        for index, record in enumerate(records):
            if index in blank:
                handle.write("\n")
            if fmt == "csv":
                writer.writerow(record)
            else:
                handle.write(json.dumps(record) + "\n")
    return path


def expected_location(fmt: str, index: int, blank: set[int]) -> tuple[int | None, str]:
    """(line, text) where row ``index`` lives: CSV header is line 1; Parquet names the row."""
    if fmt == "parquet":
        return None, f"row {index}"
    skipped = sum(1 for b in blank if b <= index)
    line = index + 1 + skipped + (1 if fmt == "csv" else 0)
    return line, f"line {line}"


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=25, deadline=None)
@given(table=rows, blank=st.sets(st.integers(0, 25), max_size=3))
def test_round_trip(
    fmt: str, table: list[tuple[float, float, float, str]], blank: set[int]
) -> None:
    records = [{"params": n, "tokens": d, "val_loss": loss, "run_id": r} for n, d, loss, r in table]
    with tempfile.TemporaryDirectory() as folder:
        result = read_runs_table(write_table(Path(folder), fmt, records, blank))
    frame = result.df
    assert frame["N"].tolist() == [r[0] for r in table]
    assert frame["D"].tolist() == [r[1] for r in table]
    assert frame["loss"].tolist() == [r[2] for r in table]
    assert frame["run_id"].tolist() == [r[3] for r in table]
    assert frame["C"].tolist() == [6.0 * r[0] * r[1] for r in table]
    assert result.column_mapping == {
        "params": "N",
        "tokens": "D",
        "val_loss": "loss",
        "run_id": "run_id",
    }
    assert result.locations == [expected_location(fmt, i, blank)[1] for i in range(len(table))]


CORRUPTIONS = {
    "text": ("N", "many", "'many' is not a number"),
    "zero": ("D", 0.0, "D is 0"),
    "negative": ("N", -3.0, "N is -3"),
    "nan_loss": ("loss", float("nan"), "loss is nan"),
    "inf_loss": ("loss", float("inf"), "loss is inf"),
    "empty": ("D", None, "D is empty"),
}


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=25, deadline=None)
@given(
    table=rows,
    where=st.integers(0, 24),
    kind=st.sampled_from(sorted(CORRUPTIONS)),
    blank=st.sets(st.integers(0, 25), max_size=3),
)
def test_corruption_is_located(
    fmt: str, table: list[tuple[float, float, float, str]], where: int, kind: str, blank: set[int]
) -> None:
    index = where % len(table)
    column, value, problem = CORRUPTIONS[kind]
    records: list[dict[str, object]] = [
        {"N": n, "D": d, "loss": loss, "run_id": r} for n, d, loss, r in table
    ]
    records[index][column] = value
    if fmt == "parquet" and kind == "text":
        records = [{**r, "N": str(r["N"])} for r in records]
    if fmt == "jsonl" and isinstance(value, float) and not math.isfinite(value):
        records[index][column] = str(value)  # JSON has no NaN/inf literals
    if fmt == "csv" and value is None:
        records[index][column] = ""
    with tempfile.TemporaryDirectory() as folder:
        path = write_table(Path(folder), fmt, records, blank)
        with pytest.raises(InputError) as caught:
            read_runs_table(path)
    line, location = expected_location(fmt, index, blank)
    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert problem in str(error)
    assert location in str(error)
