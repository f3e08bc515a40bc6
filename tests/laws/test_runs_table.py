"""Runs tables: formats, aliases, derived columns and every validation error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalinglab.errors import InputError
from scalinglab.laws.runs_table import (
    example_runs_table,
    read_runs_table,
    require_points,
    runs_table_from_frame,
    runs_table_from_records,
)

DATA = Path(__file__).parents[1] / "data" / "chinchilla_epoch_2024.csv"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_for(path: Path, **kwargs: object) -> InputError:
    with pytest.raises(InputError) as caught:
        read_runs_table(path, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return caught.value


def test_reads_chinchilla_csv_and_derives_nothing_it_has() -> None:
    table = read_runs_table(DATA)
    assert len(table) == 245
    assert list(table.df.columns) == ["N", "C", "D", "loss"]
    assert table.column_mapping == {"N": "N", "C": "C", "D": "D", "loss": "loss"}
    assert table.derived == []
    assert table.locations[0] == "line 2"
    assert table.df["N"].dtype == np.float64


def test_example_drops_the_five_highest_losses() -> None:
    full = read_runs_table(DATA).df
    table = example_runs_table("chinchilla")
    assert len(table) == 240
    assert table.df["loss"].max() == sorted(full["loss"])[-6]
    assert "5 highest losses" in table.notes[0]
    assert "bundled example" in table.source
    assert len(table.locations) == 240


def test_unknown_example_is_an_input_error() -> None:
    with pytest.raises(InputError, match="chinchilla"):
        example_runs_table("gopher")


@pytest.mark.parametrize(
    ("header", "mapping"),
    [
        ("Model Size,Training FLOP,tokens,val_loss", ["N", "C", "D", "loss"]),
        ("params,flops,Training Tokens,eval_loss", ["N", "C", "D", "loss"]),
        ("n_params,compute,train_tokens,loss (nats)", ["N", "C", "D", "loss"]),
        ("NUM_PARAMS,total-flops,D,Validation Loss", ["N", "C", "D", "loss"]),
        ("parameters,C,num_tokens,test_loss", ["N", "C", "D", "loss"]),
    ],
)
def test_aliases_are_mapped_and_reported(tmp_path: Path, header: str, mapping: list[str]) -> None:
    path = write(tmp_path, "runs.csv", f"{header}\n1e8,1.2e18,2e9,3.1\n4e8,1.92e19,8e9,2.7\n")
    table = read_runs_table(path)
    assert table.column_mapping == dict(zip(header.split(","), mapping, strict=True))
    assert list(table.df.columns) == mapping
    assert table.df["C"].tolist() == [1.2e18, 1.92e19]


def test_c_is_derived_when_missing_and_extra_columns_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path, "runs.csv", "N,D,loss,lr,run_id\n1e8,2e9,3.1,3e-4,a\n2e8,2e9,3.0,1e-4,b\n"
    )
    table = read_runs_table(path)
    assert table.derived == ["C = 6 N D"]
    assert table.df["C"].tolist() == [6 * 1e8 * 2e9, 6 * 2e8 * 2e9]
    assert table.df["lr"].tolist() == [3e-4, 1e-4]
    assert table.df["run_id"].tolist() == ["a", "b"]


def test_unique_tokens_derived_from_epochs(tmp_path: Path) -> None:
    path = write(tmp_path, "runs.csv", "N,D,loss,epochs\n1e8,4e9,3.1,4\n")
    table = read_runs_table(path)
    assert table.df["unique_tokens"].tolist() == [1e9]
    assert "unique_tokens = D / epochs" in table.derived


def test_three_formats_give_the_same_table(tmp_path: Path) -> None:
    frame = read_runs_table(DATA).df
    frame.to_parquet(tmp_path / "runs.parquet")
    (tmp_path / "runs.jsonl").write_text(
        "\n".join(json.dumps(row) for row in frame.to_dict("records")) + "\n"
    )
    for name in ("runs.parquet", "runs.jsonl"):
        pd.testing.assert_frame_equal(read_runs_table(tmp_path / name).df, frame)


def test_tsv_and_bom_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "runs.tsv"
    path.write_bytes("\ufeffN\tD\tloss\n\n1e8\t2e9\t3.1\n\n2e8\t2e9\tx\n".encode())
    error = error_for(path)
    assert (error.line, error.column) == (5, "loss")


def test_in_memory_records_and_frames_use_the_same_rules() -> None:
    table = runs_table_from_records([{"params": 1e8, "tokens": 2e9, "loss": 3.0}])
    assert table.column_mapping == {"params": "N", "tokens": "D", "loss": "loss"}
    with pytest.raises(InputError) as caught:
        runs_table_from_frame(
            pd.DataFrame({"N": [1e8, 0.0], "D": [2e9, 2e9], "loss": [3.0, 2.9]}),
            source="registry",
        )
    assert str(caught.value).startswith("registry, column N: row 1: N is 0")


def test_diverged_runs_are_excluded_with_a_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "runs.csv",
        "N,D,loss,status\n1e8,2e9,nan,diverged\n2e8,2e9,3.0,done\n3e8,2e9,inf,Diverged\n",
    )
    table = read_runs_table(path)
    assert len(table) == 1
    assert table.warnings == ["excluded 2 diverged run(s) (status = diverged): line 2, line 4"]
    assert table.locations == ["line 3"]


def test_all_runs_diverged_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "runs.csv", "N,D,loss,status\n1e8,2e9,nan,diverged\n")
    assert "every run is marked diverged" in str(error_for(path))


# Every bad input: the message names file, line and column and says how to fix it.
@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("N,tokens\n1e8,2e9\n", 1, "loss", ["no column for loss", "'N', 'tokens'", "val_loss"]),
        ("N,D,loss\n1e8,2e9,3.1\n2e8,lots,3.0\n", 3, "D", ["'lots' is not a number", "1.3e9"]),
        ("N,D,loss\n1e8,2e9,3.1\n0,2e9,3.0\n", 3, "N", ["N is 0", "positive"]),
        ("N,D,loss\n1e8,-2e9,3.1\n", 2, "D", ["D is -2e+09", "positive"]),
        ("N,D,C,loss\n1e8,2e9,0,3.1\n", 2, "C", ["C is 0", "positive"]),
        ("N,D,loss\n1e8,2e9,nan\n", 2, "loss", ["loss is nan", "status=diverged"]),
        ("N,D,loss\n1e8,2e9,inf\n", 2, "loss", ["loss is inf", "status=diverged"]),
        ("N,D,loss\n1e8,2e9,-1\n", 2, "loss", ["loss is -1", "> 0"]),
        ("N,D,loss\n1e8,,3.1\n", 2, "D", ["D is empty", "fill in D"]),
        ("N,D,loss\n1e8,2e9,3.1\n1e8,2e9\n", 3, None, ["2 fields", "3 columns"]),
        ("N,D,loss\n1e8,2e9,3.1\n2e8,2e9,3\n1e8,2.0e9,3.10\n", 4, None, ["repeats line 2"]),
        ("params,n_params,D,loss\n1,2,3,4\n", 1, "n_params", ["both mean N", "rename one"]),
    ],
)
def test_bad_csv_cells(
    tmp_path: Path, text: str, line: int, column: str | None, words: list[str]
) -> None:
    error = error_for(write(tmp_path, "runs.csv", text))
    assert (error.line, error.column) == (line, column)
    message = str(error)
    location = f"line {line}" + (f", column {column}" if column else "")
    assert f"runs.csv, {location}: " in message
    for word in words:
        assert word in message
    assert "; " in message  # the fix follows the problem


def test_header_alias_column_named_in_errors(tmp_path: Path) -> None:
    error = error_for(write(tmp_path, "runs.csv", "Model Size,tokens,loss\n1e8,2e9,3\nx,2e9,3\n"))
    assert (error.line, error.column) == (3, "Model Size")


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "the file is empty"), ("\n\n", "the file is empty"), ("N,D,loss\n", "no data rows")],
)
def test_empty_files(tmp_path: Path, text: str, problem: str) -> None:
    assert problem in str(error_for(write(tmp_path, "runs.csv", text)))


def test_jsonl_errors_name_the_file_line(tmp_path: Path) -> None:
    good = json.dumps({"N": 1e8, "D": 2e9, "loss": 3.0})
    error = error_for(write(tmp_path, "r.jsonl", f'{good}\n\n{{"N": 1e8, "D": "x", "loss": 3}}\n'))
    assert (error.line, error.column) == (3, "D")
    error = error_for(write(tmp_path, "r.jsonl", f"{good}\n{{oops\n"))
    assert error.line == 2
    assert "not valid JSON" in str(error)
    error = error_for(write(tmp_path, "r.jsonl", f"{good}\n[1, 2]\n"))
    assert "a JSON list, not an object" in str(error)
    error = error_for(write(tmp_path, "r.jsonl", f'{good}\n{{"N": true, "D": 2e9, "loss": 3}}\n'))
    assert (error.line, error.column) == (2, "N")
    error = error_for(write(tmp_path, "r.jsonl", f'{good}\n{{"N": 1e8, "loss": 3}}\n'))
    assert (error.line, error.column, error.problem) == (2, "D", "D is empty")


def test_parquet_errors_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "runs.parquet"
    pd.DataFrame(
        {"N": [1e8, 2e8, 3e8], "D": [2e9, 2e9, 2e9], "loss": [3.0, np.nan, 2.8]}
    ).to_parquet(path)
    error = error_for(path)
    assert (error.line, error.column) == (None, "loss")
    assert str(error).startswith(f"{path}, column loss: row 1: loss is nan")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("runs.xlsx", b"PK", ["cannot tell the format", ".csv", ".jsonl", ".parquet"]),
        ("runs.csv", b"N,D,loss\n\xff\xfe,1,2\n", ["line 2: byte 0xff is not UTF-8"]),
        ("runs.parquet", b"not parquet", ["not a readable Parquet file"]),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, words: list[str]) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    message = str(error_for(path))
    for word in words:
        assert word in message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "does not exist" in str(error_for(tmp_path / "nope.csv"))
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    assert "is a directory" in str(error_for(folder))


def test_require_points() -> None:
    table = runs_table_from_records(
        [{"N": 1e8 * k, "D": 2e9, "loss": 3.0 - k / 10} for k in (1, 2)]
    )
    require_points(table, 2, "Kaplan L(N)")
    with pytest.raises(InputError) as caught:
        require_points(table, 5, "Chinchilla")
    assert str(caught.value) == (
        "<records>: 2 runs are fewer than the 5 parameters of the Chinchilla law; "
        "add runs (at least 5) or choose a law with fewer parameters"
    )


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_reads_the_registry_export_columns(tmp_path: Path, fmt: str) -> None:
    """A table shaped like ``scalinglab runs export`` reads without clashes; diverged dropped."""
    from scalinglab.sweep.export import COLUMNS

    base = dict.fromkeys(COLUMNS, 1.0) | {"budget": None, "status": "completed"}
    rows = [
        base | {"N": 1e7, "D": 2e8, "C": 1.3e16, "loss": 4.0, "run_id": "a"},
        base | {"N": 2e7, "D": 2e8, "C": 2.5e16, "loss": float("nan"), "run_id": "b"},
        base | {"N": 3e7, "D": 2e8, "C": 3.7e16, "loss": 3.9, "run_id": "c"},
    ]
    rows[1]["status"] = "diverged"
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    path = tmp_path / f"runs.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    table = read_runs_table(path)
    assert table.df["run_id"].tolist() == ["a", "c"]
    assert table.column_mapping["n_params_nonembed"] == "n_params_nonembed"
    assert "n_params_total" in table.df.columns
    assert "diverged" in table.warnings[0]
