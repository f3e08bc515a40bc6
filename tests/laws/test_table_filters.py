"""Filters and reductions of raw runs tables, each reported."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.errors import ScalingLabError
from scalinglab.laws.runs_table import runs_table_from_records
from scalinglab.laws.table_filters import (
    TableFilters,
    apply_filters,
    location_numbers,
    parse_line_spec,
    repeated_pairs_note,
)


def records():
    """Two sizes x two token counts x three learning rates x two seeds; known losses."""
    rows = []
    for N in (1e8, 4e8):
        for D in (2e9, 8e9):
            for lr, bump in ((1e-3, 0.10), (3e-3, 0.0), (1e-2, 0.05)):
                for seed, noise in ((0, 0.01), (1, -0.01)):
                    loss = 2.0 + 1e9 / N * 0.1 + 1e10 / D * 0.1 + bump + noise
                    rows.append({"N": N, "D": D, "loss": loss, "lr": lr, "seed": seed})
    return rows


def test_repeated_pairs_are_reported():
    note = repeated_pairs_note(runs_table_from_records(records()))
    assert note is not None
    assert note.startswith("4 (N, D) pairs appear in several rows (24 rows")
    assert "--best-over" in note


def test_reduce_mean_then_best_over_lr_keeps_the_best_learning_rate():
    table = runs_table_from_records(records())
    out = apply_filters(table, TableFilters(reduce="mean", best_over="lr"))
    df = out.table.df
    assert len(df) == 4
    assert set(df["lr"]) == {3e-3}
    expected = [2.0 + 1e9 / N * 0.1 + 1e10 / D * 0.1 for N, D in zip(df["N"], df["D"], strict=True)]
    assert np.allclose(df["loss"], expected)
    assert out.notes[0].startswith("--reduce mean: one row per (N, D, lr)")
    assert "24 rows -> 12" in out.notes[0]
    assert "12 rows -> 4" in out.notes[1]
    assert repeated_pairs_note(out.table) is None


def test_reduce_min_takes_the_lowest_seed():
    table = runs_table_from_records([r for r in records() if r["lr"] == 3e-3])
    df = apply_filters(table, TableFilters(reduce="min")).table.df
    expected = [
        2.0 + 1e9 / N * 0.1 + 1e10 / D * 0.1 - 0.01 for N, D in zip(df["N"], df["D"], strict=True)
    ]
    assert np.allclose(df["loss"], expected)


def test_filters_report_rows_and_lines():
    table = runs_table_from_records(records())
    out = apply_filters(
        table, TableFilters(exclude_lines=frozenset({0, 1}), max_loss=2.9, min_tokens_per_param=10)
    )
    assert out.notes[0] == (
        "--exclude-lines: removed the rows asked for: 2 of 24 rows (row 0, row 1)"
    )
    assert out.notes[1].startswith("--max-loss 2.9: removed runs with loss above it:")
    assert out.notes[2].startswith("--min-tokens-per-param 10: removed runs with D/N below it")
    df = out.table.df
    assert (df["loss"] <= 2.9).all()
    assert (df["D"] / df["N"] >= 10).all()
    assert 0 not in location_numbers(out.table)


def test_unknown_lines_columns_and_bad_weights_are_one_line_errors():
    table = runs_table_from_records(records())
    with pytest.raises(ScalingLabError, match="row 99 of <records> is not a data row"):
        apply_filters(table, TableFilters(exclude_lines=frozenset({99})))
    with pytest.raises(ScalingLabError, match="no column 'learning_rate'"):
        apply_filters(table, TableFilters(best_over="learning_rate"))
    with pytest.raises(ScalingLabError, match="every weight in column seed is 0"):
        apply_filters(
            runs_table_from_records([r for r in records() if r["seed"] == 0]),
            TableFilters(weights="seed"),
        )
    with pytest.raises(ScalingLabError, match="no runs are left"):
        apply_filters(table, TableFilters(max_loss=0.5))


def test_weights_column_is_returned():
    table = runs_table_from_records(records())
    out = apply_filters(table, TableFilters(weights="seed"))
    assert np.array_equal(out.weights, [r["seed"] for r in records()])


@given(st.lists(st.tuples(st.integers(1, 500), st.integers(0, 20)), max_size=12))
def test_line_specs_round_trip(ranges):
    spec = ",".join(f"{a}-{a + k}" if k else str(a) for a, k in ranges)
    expected = {line for a, k in ranges for line in range(a, a + k + 1)}
    assert parse_line_spec(spec) == expected


@settings(deadline=None)  # a range like 0-2000000 expands to 2e6 lines (0.3 s here)
@given(st.text(alphabet="0123456789-, x.", max_size=20))
def test_line_specs_parse_or_fail_in_one_line(spec):
    valid = all(
        re.fullmatch(r"\s*\d+\s*(-\s*\d+\s*)?", part) for part in spec.split(",") if part.strip()
    )
    backwards = any(int(a) > int(b) for a, b in re.findall(r"(\d+)\s*-\s*(\d+)", spec) if valid)
    if valid and not backwards:
        assert all(line >= 0 for line in parse_line_spec(spec))
        return
    with pytest.raises(ScalingLabError, match=r"^--exclude-lines: [^\n]*$"):
        parse_line_spec(spec)


settings_rows = st.lists(
    st.tuples(
        st.sampled_from([1e8, 2e8, 4e8]),
        st.sampled_from([1e9, 4e9]),
        st.sampled_from([1e-3, 3e-3]),
        st.floats(1.5, 5.0, allow_nan=False),
    ),
    min_size=1,
    max_size=30,
    unique_by=lambda row: row,
)


@given(settings_rows, st.sampled_from(["mean", "min"]))
def test_reduce_then_best_over_equals_a_direct_computation(rows, how):
    records = [
        {"N": N, "D": D, "lr": lr, "loss": loss, "run_id": str(i)}
        for i, (N, D, lr, loss) in enumerate(rows)
    ]
    table = runs_table_from_records(records)
    out = apply_filters(table, TableFilters(reduce=how, best_over="lr")).table
    by_setting: dict[tuple[float, float, float], list[float]] = {}
    for N, D, lr, loss in rows:
        by_setting.setdefault((N, D, lr), []).append(loss)
    reduce = (lambda v: sum(v) / len(v)) if how == "mean" else min
    best: dict[tuple[float, float], float] = {}
    for (N, D, _), losses in by_setting.items():
        best[N, D] = min(best.get((N, D), float("inf")), reduce(losses))
    got = {
        (N, D): loss for N, D, loss in zip(out.df["N"], out.df["D"], out.df["loss"], strict=True)
    }
    assert got.keys() == best.keys()
    for key, value in best.items():
        assert got[key] == pytest.approx(value, rel=1e-12)
    assert len(out.locations) == len(out.df)
