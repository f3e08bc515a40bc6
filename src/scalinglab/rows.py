"""Tables of rows from CSV, TSV, JSONL or Parquet files, every row with its location.

Runs tables (``laws``), classification tasks and prediction inputs (``finetune``) all
read their files here, so a bad file is reported the same way everywhere: one
:class:`~scalinglab.errors.InputError` naming the file, the line (1-based, as an editor
shows it; a CSV header is line 1) and, where known, the column.

- CSV: the separator is read from the header line: ``;`` or a tab when the header holds
  more of it than of commas, else ``,`` (:attr:`RowFile.separator` says which). A UTF-8
  byte-order mark is skipped; blank lines are skipped; a quoted cell may span lines (the
  row is located at its first line); every row must have one cell per header column.
- TSV: tab-separated, otherwise as CSV.
- JSONL: one JSON object per line (:mod:`scalinglab.jsonl`); the columns are the keys in
  the order first seen.
- Parquet (needs ``pyarrow``): rows have no line; they are located by their 0-based
  index (``row 3``).

The format follows the file's extension (:data:`FORMATS`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from scalinglab.errors import InputError, not_utf8
from scalinglab.jsonl import iter_jsonl_objects

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


class Row(NamedTuple):
    """One data row: ``values`` by column name, its first ``line`` in the file (1-based;
    ``None`` for Parquet) and its 0-based ``index`` among the data rows (a named tuple:
    a table of 100,000 rows makes 100,000 of them)."""

    values: dict[str, Any]
    line: int | None
    index: int

    @property
    def where(self) -> str:
        """``"line 7"``, or ``"row 3"`` for a row that has no line."""
        return f"row {self.index}" if self.line is None else f"line {self.line}"


@dataclass
class RowFile:
    """The rows of one file and what was learnt reading it.

    ``columns``: the header (CSV/TSV), the schema (Parquet) or the keys in order of first
    appearance (JSONL); ``header_line``: the CSV/TSV header's line; ``separator``: the
    CSV/TSV cell separator (for CSV, read from the header: see the module docstring).
    """

    path: Path
    format: str
    columns: list[str]
    rows: list[Row]
    header_line: int | None = None
    separator: str | None = None

    @property
    def declares_columns(self) -> bool:
        """Whether the file names its columns once (a header or a schema), so that a
        missing column can be reported before reading rows (not so for JSONL)."""
        return self.format != "jsonl"

    def require_columns(self, names: Sequence[str], *, fix: str) -> None:
        """Raise :class:`InputError` at the header for the first of ``names`` that the
        file lacks (only for files that declare their columns)."""
        if not self.declares_columns:
            return
        for name in names:
            if name not in self.columns:
                raise InputError(
                    f"no column {name!r} (columns: {', '.join(self.columns) or 'none'})",
                    fix=fix,
                    file=str(self.path),
                    line=self.header_line,
                    column=name,
                )

    def error(self, row: Row, problem: str, *, fix: str, column: str | None = None) -> InputError:
        """The error for ``problem`` in ``row``: located by its line, or for a row with no
        line (Parquet) by its index written before the problem."""
        return InputError(
            problem if row.line is not None else f"{row.where}: {problem}",
            fix=fix,
            file=str(self.path),
            line=row.line,
            column=column,
        )


def row_format(path: str | Path) -> str:
    """``csv``, ``tsv``, ``jsonl`` or ``parquet`` from the extension of ``path``;
    :class:`InputError` for any other."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"cannot tell the format of a {path.suffix or 'suffix-less'} file",
            fix=f"give the file one of the extensions {', '.join(sorted(FORMATS))}",
            file=str(path),
        )
    return kind


def read_rows(path: str | Path, *, example: str) -> RowFile:
    """Every data row of the CSV, TSV, JSONL or Parquet file ``path`` (see the module
    docstring for each format).

    ``example`` is a JSON object line of the shape the caller expects, shown in the fix
    of a bad JSONL line. Raises :class:`InputError` for an unknown extension, a missing
    file or folder, bytes that are not UTF-8, a malformed line, a row whose cell count
    differs from the header, a header that repeats a column, or an unreadable Parquet
    file.
    """
    path = Path(path)
    kind = row_format(path)
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise InputError(problem, fix="give the path of a file", file=str(path))
    try:
        if kind == "parquet":
            return _read_parquet(path)
        if kind == "jsonl":
            return _read_jsonl(path, example)
        return _read_delimited(path, kind, "\t" if kind == "tsv" else _sniff_separator(path))
    except UnicodeDecodeError as error:
        raise not_utf8(path, error) from None
    except OSError as error:
        raise InputError(
            f"cannot read the file ({error.strerror or error})",
            fix="check that it is a readable file",
            file=str(path),
        ) from None


def _sniff_separator(path: Path) -> str:
    """``;`` or a tab when the first non-blank line holds more of it than of commas
    (and than of the other), else ``,``."""
    with path.open(encoding="utf-8-sig") as handle:
        header = next((line for line in handle if line.strip()), "")
    counts = {separator: header.count(separator) for separator in (",", ";", "\t")}
    best = max(counts, key=lambda separator: counts[separator])
    return best if counts[best] > counts[","] else ","


def _records(path: Path, separator: str) -> Iterator[tuple[int, list[str]]]:
    """``(first line, cells)`` of each non-blank record of a delimited file."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=separator)
        end = 0
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise InputError(
                    f"malformed {path.suffix[1:].upper()} ({' '.join(str(error).split())})",
                    fix="check the quoting on this line",
                    file=str(path),
                    line=reader.line_num,
                ) from None
            start, end = end + 1, reader.line_num
            if any(cell.strip() for cell in record):
                yield start, record


def _read_delimited(path: Path, kind: str, separator: str) -> RowFile:
    records = _records(path, separator)
    header_line, header = next(records, (None, []))
    columns = _header(path, [cell.strip() for cell in header], header_line)
    table = RowFile(path, kind, columns, [], header_line=header_line, separator=separator)
    for line, cells in records:
        if len(cells) != len(columns):
            raise _width_error(table, line, cells)
        table.rows.append(Row(dict(zip(columns, cells, strict=True)), line, len(table.rows)))
    return table


def _header(path: Path, columns: list[str], line: int | None) -> list[str]:
    """The header's column names; a name given twice is an error at the header."""
    for position, name in enumerate(columns):
        if name in columns[:position]:
            raise InputError(
                f"column {name!r} appears twice in the header",
                fix="give every column its own name",
                file=str(path),
                line=line,
                column=name,
            )
    return columns


def _width_error(table: RowFile, line: int, cells: list[str]) -> InputError:
    """A row with more or fewer cells than the header, with a hint when it holds the
    other usual separator (a file that mixes them)."""
    separator = table.separator or ","
    other = ";" if separator == "," else ","
    hint = (
        f"; the file may be {SEPARATOR_NAMES[other]}-separated (read as "
        f"{SEPARATOR_NAMES[separator]}-separated from its header): use one separator "
        "throughout"
        if other in "".join(cells)
        else ""
    )
    return InputError(
        f"{len(cells)} fields but the header (line {table.header_line}) has "
        f"{len(table.columns)} columns",
        fix="give every row one value per column (empty for a missing value)" + hint,
        file=str(table.path),
        line=line,
    )


def _read_jsonl(path: Path, example: str) -> RowFile:
    rows = [
        Row(record, line, index)
        for index, (line, record) in enumerate(iter_jsonl_objects(path, example=example))
    ]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row.values))
    return RowFile(path, "jsonl", list(columns), rows)


def _read_parquet(path: Path) -> RowFile:
    """Rows of a Parquet file as pandas reads them (a null float is NaN), by index."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "reading Parquet needs pyarrow, which is not installed",
            fix="pip install pyarrow (or give a .csv or .jsonl file)",
            file=str(path),
        ) from None
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, ValueError) as error:
        raise InputError(
            f"not a readable Parquet file ({' '.join(str(error).split())})",
            fix="write it with pandas.DataFrame.to_parquet or pyarrow",
            file=str(path),
        ) from None
    columns = [str(name) for name in frame.columns]
    rows = [
        Row(dict(zip(columns, values, strict=True)), None, index)
        for index, values in enumerate(frame.itertuples(index=False, name=None))
    ]
    return RowFile(path, "parquet", columns, rows)
