"""Runs tables as researchers have them: repeated runs, settings, filters, weights.

A raw sweep export often holds several runs per ``(N, D)`` (learning rates, seeds),
runs far from compute-optimal, and small-scale outliers. :func:`apply_filters` applies,
in this order, the rules a researcher states and reports each one (which rule, how many
rows it removed, which lines):

1. ``exclude_lines``: drop the rows at these file lines (CSV/JSONL) or row indices
   (Parquet, in-memory tables), e.g. from the fit's ``influential`` report;
2. ``max_loss``: drop runs whose loss (nats/token) is above it;
3. ``min_tokens_per_param``: drop runs with ``D / N`` below it (far-undertrained runs);
4. ``reduce`` (``mean`` or ``min``): one row per ``(N, D)`` (and per ``best_over``
   value), averaging or taking the lowest loss over seeds;
5. ``best_over`` COLUMN: keep the lowest-loss row per ``(N, D)`` over that column
   (e.g. ``lr``: the best learning rate at each size and token count).

``weights`` names a column of non-negative per-run weights for the parametric fit.

>>> from scalinglab.laws.runs_table import runs_table_from_records
>>> table = runs_table_from_records([
...     {"N": 1e8, "D": 2e9, "loss": 3.0, "lr": 1e-3},
...     {"N": 1e8, "D": 2e9, "loss": 2.9, "lr": 3e-3}])
>>> filtered = apply_filters(table, TableFilters(best_over="lr"))
>>> float(filtered.table.df["loss"].iloc[0]), filtered.notes[0][:40]
(2.9, '--best-over lr: kept the lowest loss of ')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.laws.runs_table import RunsTable

REDUCTIONS = ("mean", "min")
SHOWN = 10
_SPEC = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class TableFilters:
    """The rules :func:`apply_filters` applies (``None`` or empty: rule not used)."""

    exclude_lines: frozenset[int] = frozenset()
    max_loss: float | None = None
    min_tokens_per_param: float | None = None
    reduce: str | None = None
    best_over: str | None = None
    weights: str | None = None


@dataclass
class FilteredTable:
    """The table after the rules, a note per rule applied, and the per-run weights."""

    table: RunsTable
    notes: list[str] = field(default_factory=list)
    weights: np.ndarray | None = None


def parse_line_spec(spec: str) -> frozenset[int]:
    """Line numbers from ``"2-6,14"`` (ranges inclusive, any order, repeats allowed)."""
    lines: set[int] = set()
    for part in spec.split(","):
        if not part.strip():
            continue
        match = _SPEC.match(part)
        if match is None:
            raise ScalingLabError(
                f"--exclude-lines: {part.strip()!r} is not a line number or range; "
                "write lines as 2,5,9 or 2-6,14"
            )
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            raise ScalingLabError(
                f"--exclude-lines: range {first}-{last} runs backwards; write {last}-{first}"
            )
        lines.update(range(first, last + 1))
    return frozenset(lines)


def location_numbers(table: RunsTable) -> np.ndarray:
    """Each row's file line (or row index) as an integer, from ``table.locations``."""
    return np.array([int(loc.split()[-1]) for loc in table.locations], dtype=int)


def repeated_pairs_note(table: RunsTable) -> str | None:
    """A note when several rows share one ``(N, D)`` with different losses, else ``None``."""
    df = table.df
    groups = df.groupby(["N", "D"], sort=False)["loss"]
    sizes = groups.transform("size").to_numpy()
    if not (sizes > 1).any():
        return None
    spread = (groups.transform("max") / groups.transform("min") - 1.0).to_numpy()
    where = _shown([loc for loc, n in zip(table.locations, sizes, strict=True) if n > 1])
    pairs = int(groups.ngroups - (groups.size() == 1).sum())
    return (
        f"{pairs} (N, D) pairs appear in several rows ({int((sizes > 1).sum())} rows: {where}), "
        f"with losses up to {spread.max():.1%} apart; all are fitted as separate runs. "
        "Use --best-over COLUMN (e.g. lr) or --reduce mean|min (seeds) to keep one per pair"
    )


def apply_filters(table: RunsTable, filters: TableFilters) -> FilteredTable:
    """Apply ``filters`` to ``table`` in the documented order; see the module docstring."""
    out = FilteredTable(table)
    if filters.exclude_lines:
        _exclude_lines(out, filters.exclude_lines)
    if filters.max_loss is not None:
        keep = out.table.df["loss"].to_numpy() <= filters.max_loss
        _keep(out, keep, f"--max-loss {filters.max_loss:g}: removed runs with loss above it")
    if filters.min_tokens_per_param is not None:
        df = out.table.df
        keep = (df["D"] / df["N"]).to_numpy() >= filters.min_tokens_per_param
        minimum = filters.min_tokens_per_param
        rule = f"--min-tokens-per-param {minimum:g}: removed runs with D/N below it"
        _keep(out, keep, rule)
    if filters.reduce is not None:
        _reduce(out, filters.reduce, filters.best_over)
    if filters.best_over is not None:
        _best_over(out, filters.best_over)
    if filters.weights is not None:
        out.weights = _weights(out.table, filters.weights)
        out.notes.append(f"--weights {filters.weights}: per-run weights of the parametric fit")
    if len(out.table.df) == 0:
        raise ScalingLabError(f"no runs are left after: {'; '.join(out.notes)}; relax the filters")
    return out


def _exclude_lines(out: FilteredTable, lines: frozenset[int]) -> None:
    numbers = location_numbers(out.table)
    unknown = sorted(lines - set(numbers.tolist()))
    if unknown:
        kind = out.table.locations[0].split()[0] if out.table.locations else "line"
        raise ScalingLabError(
            f"--exclude-lines: {kind} {', '.join(map(str, unknown[:SHOWN]))} of "
            f"{out.table.source} is not a data row; give the {kind}s the fit report names"
        )
    keep = ~np.isin(numbers, sorted(lines))
    _keep(out, keep, "--exclude-lines: removed the rows asked for")


def _keep(out: FilteredTable, keep: np.ndarray, rule: str) -> None:
    dropped = [loc for loc, k in zip(out.table.locations, keep, strict=True) if not k]
    out.notes.append(f"{rule}: {len(dropped)} of {len(keep)} rows ({_shown(dropped)})")
    out.table = _subset(out.table, keep)


def _subset(table: RunsTable, keep: np.ndarray) -> RunsTable:
    locations = [loc for loc, k in zip(table.locations, keep, strict=True) if k]
    return replace(table, df=table.df[keep].reset_index(drop=True), locations=locations)


def _reduce(out: FilteredTable, how: str, best_over: str | None) -> None:
    if how not in REDUCTIONS:
        raise ScalingLabError(f"--reduce {how!r} is unknown; use mean or min")
    keys = ["N", "D"] if best_over is None else ["N", "D", _column(out.table, best_over)]
    df = out.table.df.assign(_location=out.table.locations)
    grouped = df.groupby(keys, sort=False, dropna=False)
    first = grouped.head(1).index
    reduced = df.loc[first].copy()
    reduced["loss"] = grouped["loss"].transform(how).loc[first]
    before = len(df)
    rows_per = grouped["loss"].size().to_numpy()
    over = f"(N, D, {best_over})" if best_over else "(N, D)"
    counts = (
        f"{rows_per.min()}"
        if rows_per.min() == rows_per.max()
        else (f"{rows_per.min()}-{rows_per.max()}")
    )
    out.notes.append(
        f"--reduce {how}: one row per {over}, loss = {how} over its {counts} runs: "
        f"{before} rows -> {len(reduced)}"
    )
    out.table = _from_frame(out.table, reduced)


def _best_over(out: FilteredTable, column: str) -> None:
    name = _column(out.table, column)
    df = out.table.df.assign(_location=out.table.locations)
    best = df.loc[df.groupby(["N", "D"], sort=False)["loss"].idxmin().to_numpy()]
    chosen = best[name].value_counts()
    shown = ", ".join(f"{value!r} x{count}" for value, count in chosen.head(SHOWN).items())
    out.notes.append(
        f"--best-over {name}: kept the lowest loss of each (N, D) over {name}: "
        f"{len(df)} rows -> {len(best)} (chosen {name}: {shown})"
    )
    out.table = _from_frame(out.table, best)


def _from_frame(table: RunsTable, frame: pd.DataFrame) -> RunsTable:
    locations = frame["_location"].tolist()
    df = frame.drop(columns="_location").reset_index(drop=True)
    return replace(table, df=df, locations=locations)


def _column(table: RunsTable, name: str) -> str:
    if name in table.df.columns:
        return name
    if name in table.column_mapping:
        return table.column_mapping[name]
    raise ScalingLabError(
        f"no column {name!r} in {table.source}; columns: {', '.join(map(str, table.df.columns))}"
    )


def _weights(table: RunsTable, column: str) -> np.ndarray:
    name = _column(table, column)
    values = pd.to_numeric(table.df[name], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        i = int(bad[0])
        raise ScalingLabError(
            f"{table.source}, {table.locations[i]}, column {name}: weight "
            f"{table.df[name].iloc[i]!r} is not a finite number >= 0; fix it or delete the row"
        )
    if not (values > 0).any():
        raise ScalingLabError(f"every weight in column {name} is 0; give some runs weight > 0")
    return values


def _shown(locations: list[str]) -> str:
    if not locations:
        return "none"
    head = ", ".join(locations[:SHOWN])
    return head + (f" and {len(locations) - SHOWN} more" if len(locations) > SHOWN else "")
