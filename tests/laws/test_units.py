"""Unit checks (perplexity, sizes in millions, C off 6ND) and CSV dialects."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.errors import InputError, ScalingLabError
from scalinglab.laws.runs_table import read_runs_table
from scalinglab.laws.units import check_units


def frame(N=(1e8, 3e8, 1e9), D=(2e9, 6e9, 2e10), loss=(3.2, 2.9, 2.6), C=None):
    df = pd.DataFrame({"N": N, "D": D, "loss": loss})
    df["C"] = 6 * df["N"] * df["D"] if C is None else C
    return df


def test_good_units_pass_quietly():
    assert check_units(frame(), derived_c=False, source="runs.csv") == []


def test_perplexity_is_an_error_that_says_what_to_do():
    with pytest.raises(ScalingLabError) as error:
        check_units(frame(loss=(148.0, 40.0, 10.2)), derived_c=True, source="runs.csv")
    message = str(error.value)
    assert message.startswith("runs.csv: loss values (median 40, 10.2-148) look like perplexity")
    assert "ln(perplexity)" in message


@pytest.mark.parametrize("column", ["N", "D"])
def test_counts_in_millions_are_errors(column):
    values = {"N": (125.0, 350.0, 760.0), "D": (2.5, 5.0, 20.0)}[column]
    with pytest.raises(ScalingLabError, match=f"the largest {column} is .* looks like millions"):
        check_units(frame(**{column: values}), derived_c=True, source="runs.csv")


def test_c_ten_times_6nd_warns_and_pf_days_fail():
    base = frame()
    warnings = check_units(frame(C=10 * base["C"]), derived_c=False, source="runs.csv")
    assert len(warnings) == 1
    assert warnings[0].startswith("column C is 10 times 6 N D")
    with pytest.raises(ScalingLabError, match="not in FLOPs"):
        check_units(frame(C=base["C"] / 8.64e19), derived_c=False, source="runs.csv")
    assert check_units(frame(C=10 * base["C"]), derived_c=True, source="runs.csv") == []


def write(text: str) -> Path:
    folder = Path(tempfile.mkdtemp())
    path = folder / "runs.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_semicolon_with_decimal_commas_is_detected_and_noted():
    table = read_runs_table(write("N;D;loss\n1,5e8;2e9;3,1\n3e8;4e9;2,9\n"))
    assert table.df["N"].tolist() == [1.5e8, 3e8]
    assert table.df["loss"].tolist() == [3.1, 2.9]
    assert table.notes == [
        "read as semicolon-separated with decimal commas (3,14 = 3.14), detected from the header"
    ]


def test_mixed_separators_are_named_in_the_error():
    with pytest.raises(InputError, match="may be semicolon-separated"):
        read_runs_table(write("N,D,loss\n1.5e8;2e9;3.1\n"))


finite = st.floats(min_value=1e-3, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(finite, finite, st.floats(0.5, 10.0)), min_size=1, max_size=12, unique=True)
)
def test_semicolon_decimal_comma_reads_as_the_comma_file(rows):
    plain = write("N,D,loss\n" + "".join(",".join(map(repr, row)) + "\n" for row in rows))
    with tempfile.TemporaryDirectory() as folder:
        european = Path(folder) / "runs.csv"
        with european.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow(["N", "D", "loss"])
            for row in rows:
                writer.writerow([repr(v).replace(".", ",") for v in row])
        expected = read_runs_table(plain).df
        assert read_runs_table(european).df.equals(expected)
