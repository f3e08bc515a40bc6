"""The one row reader: rows round-trip through CSV/TSV/JSONL/Parquet with the lines an
editor shows them on, and every bad file is a one-line error naming file and line."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.errors import InputError
from scalinglab.rows import read_rows, row_format

EXAMPLE = '{"a": 1}'
names = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=6),
    min_size=1,
    max_size=4,
    unique=True,
)
# Any text but a carriage return (an editor and Python's line reading count a lone \r as
# a line break), a NUL, or a byte-order mark; a cell may hold a newline.
cell = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r\x00\ufeff"
    ),
    max_size=8,
)


def rows_for(columns: list[str]) -> st.SearchStrategy[list[list[str]]]:
    """Rows of ``columns`` cells, each with a non-blank cell (blank rows are skipped)."""
    row = st.lists(cell, min_size=len(columns), max_size=len(columns)).filter(
        lambda cells: any(c.strip() for c in cells)
    )
    return st.lists(row, max_size=10)


def write_delimited(
    path: Path, columns: list[str], rows: list[list[str]], separator: str, blank: set[int]
) -> list[int]:
    """Write a header and ``rows`` (a blank line before each row index in ``blank``);
    return each row's first line, counted from the text written."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\n")
    writer.writerow(columns)
    lines = []
    for index, row in enumerate(rows):
        if index in blank:
            out.write("\n")
        lines.append(out.getvalue().count("\n") + 1)
        writer.writerow(row)
    path.write_text(out.getvalue(), encoding="utf-8", newline="")
    return lines


@pytest.mark.parametrize(("suffix", "separator"), [(".csv", ","), (".csv", ";"), (".tsv", "\t")])
@settings(max_examples=40, deadline=None)
@given(data=st.data(), columns=names, blank=st.sets(st.integers(0, 9)))
def test_delimited_rows_round_trip_with_their_first_lines(
    tmp_path_factory: pytest.TempPathFactory,
    suffix: str,
    separator: str,
    data: st.DataObject,
    columns: list[str],
    blank: set[int],
) -> None:
    if separator != ",":  # a one-column header holds no separator to detect
        columns = [*columns, "_extra_"] if len(columns) == 1 else columns
    rows = data.draw(rows_for(columns))
    path = tmp_path_factory.mktemp("rows") / f"table{suffix}"
    lines = write_delimited(path, columns, rows, separator, blank)
    table = read_rows(path, example=EXAMPLE)
    assert table.columns == columns
    assert table.header_line == 1
    assert [row.values for row in table.rows] == [dict(zip(columns, r, strict=True)) for r in rows]
    assert [row.line for row in table.rows] == lines
    assert [row.index for row in table.rows] == list(range(len(rows)))
    assert table.separator == separator


json_value = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | cell


@settings(max_examples=40, deadline=None)
@given(
    records=st.lists(st.dictionaries(cell, json_value, max_size=4), max_size=10),
    blank=st.sets(st.integers(0, 9)),
)
def test_jsonl_rows_round_trip_with_their_lines(
    tmp_path_factory: pytest.TempPathFactory, records: list[dict], blank: set[int]
) -> None:
    path = tmp_path_factory.mktemp("rows") / "table.jsonl"
    text, lines = "", []
    for index, record in enumerate(records):
        if index in blank:
            text += "\n"
        lines.append(text.count("\n") + 1)
        text += json.dumps(record) + "\n"
    path.write_text(text, encoding="utf-8")
    table = read_rows(path, example=EXAMPLE)
    assert [row.values for row in table.rows] == records
    assert [row.line for row in table.rows] == lines
    first_seen = list(dict.fromkeys(key for record in records for key in record))
    assert table.columns == first_seen


def test_parquet_rows_have_an_index_and_no_line(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"text": ["a", "b"], "label": [1, 0]}).to_parquet(path)
    table = read_rows(path, example=EXAMPLE)
    assert table.columns == ["text", "label"]
    assert [row.values for row in table.rows] == [
        {"text": "a", "label": 1},
        {"text": "b", "label": 0},
    ]
    assert [(row.line, row.where) for row in table.rows] == [(None, "row 0"), (None, "row 1")]
    error = table.error(table.rows[1], "bad label", fix="fix it", column="label")
    assert str(error) == f"{path}, column label: row 1: bad label; fix it"


def test_a_missing_pyarrow_is_a_one_line_refusal(tmp_path, monkeypatch) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(InputError, match=r"needs pyarrow.*pip install pyarrow"):
        read_rows(path, example=EXAMPLE)


@pytest.mark.parametrize(
    ("name", "content", "located"),
    [
        ("t.csv", b"a,b\n1,2\n\n3,4,5\n", "line 4: 3 fields but the header (line 1) has 2"),
        ("t.csv", b"a,b\n1;2\n", "line 2: 1 fields but the header (line 1) has 2 columns"),
        ("t.csv", b"a,b,a\n1,2,3\n", "line 1, column a: column 'a' appears twice"),
        ("t.csv", b"a,b\n\n1," + b"x" * 200_000 + b"\n", "line 3: malformed CSV (field larger"),
        ("t.tsv", b"a\tb\n1\t2\ncaf\xe9\t3\n", "line 3: byte 0xe9 is not UTF-8"),
        ("t.csv", b"caf\xe9,b\n1,2\n", "line 1: byte 0xe9 is not UTF-8"),
        ("t.jsonl", b'{"a": 1}\n{"a": \n', "line 2: not valid JSON"),
        ("t.parquet", b"not parquet", "not a readable Parquet file"),
        ("t.xlsx", b"PK", "cannot tell the format of a .xlsx file"),
    ],
)
def test_bad_files_are_one_located_line(
    tmp_path: Path, name: str, content: bytes, located: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        read_rows(path, example=EXAMPLE)
    message = str(caught.value)
    assert message.startswith(f"{path}, {located}") or message.startswith(f"{path}: {located}")
    assert "\n" not in message


def test_a_mixed_separator_row_gets_the_hint(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1;2\n")
    with pytest.raises(InputError, match="may be semicolon-separated"):
        read_rows(path, example=EXAMPLE)


def test_missing_file_folder_bom_and_header_only(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_rows(tmp_path / "nope.csv", example=EXAMPLE)
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        read_rows(tmp_path / "dir.csv", example=EXAMPLE)
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbf\n a ,b\n")
    table = read_rows(path, example=EXAMPLE)
    assert (table.columns, table.rows, table.header_line) == (["a", "b"], [], 2)


def test_required_columns_are_named_at_the_header(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("\nid,body\n1,x\n")
    table = read_rows(path, example=EXAMPLE)
    with pytest.raises(InputError, match=r"line 2, column text: no column 'text' \(columns: id"):
        table.require_columns(["body", "text"], fix="name it")
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"id": 1}\n')
    read_rows(jsonl, example=EXAMPLE).require_columns(["text"], fix="rows are checked one by one")


def test_formats_by_extension() -> None:
    assert [row_format(f"x{s}") for s in (".CSV", ".tsv", ".ndjson", ".pq")] == [
        "csv",
        "tsv",
        "jsonl",
        "parquet",
    ]
