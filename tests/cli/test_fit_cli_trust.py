"""``scalinglab fit`` on tables as researchers have them: design checks, filters,
influential runs, units, extrapolation (issue 12)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from scalinglab.cli.app import main
from scalinglab.laws.forms import ChinchillaLaw

DATA = Path(__file__).parents[1] / "data" / "chinchilla_epoch_2024.csv"
LAW = ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
#: The exhaustive multi-start optimum on Epoch's 240 points (docs/fitting.md).
GLOBAL_OPTIMUM = {"E": 1.8172, "A": 477.8, "B": 2143, "alpha": 0.3473, "beta": 0.3672}


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["scalinglab", *args])
    with pytest.raises(SystemExit) as caught:
        main()
    return int(caught.value.code or 0)


def grid_csv(tmp_path: Path, sizes, tokens, *, extra: str = "") -> Path:
    lines = ["N,D,loss"]
    for N in sizes:
        for D in tokens:
            lines.append(f"{float(N)!r},{float(D)!r},{float(LAW.predict(N=N, D=D))!r}")
    path = tmp_path / "runs.csv"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


@pytest.mark.parametrize(
    ("sizes", "tokens", "args", "words"),
    [
        ([1e8], np.geomspace(1e9, 1e11, 12), [], "column N has 1 distinct value(s) (1e+08"),
        (np.geomspace(1e7, 1e9, 12), [2e9], [], "column D has 1 distinct value(s) (2e+09"),
        (
            [1e7, 3e7, 1e8, 3e8],
            np.geomspace(1e9, 1e11, 4),
            ["--holdout-largest", "3", "--holdout-by", "N"],
            "column N has 1 distinct value(s) after holding out the 3 largest model sizes",
        ),
    ],
)
def test_degenerate_designs_exit_2_in_one_line(
    tmp_path, monkeypatch, capsys, sizes, tokens, args, words
) -> None:
    path = grid_csv(tmp_path, sizes, tokens)
    assert run_cli(monkeypatch, "fit", str(path), *args) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert words in err
    assert out == ""


def test_epoch_table_names_its_high_loss_rows_and_refits_without_them(
    tmp_path, monkeypatch, capsys
) -> None:
    out = tmp_path / "fit.json"
    assert run_cli(monkeypatch, "fit", str(DATA), "--json", str(out)) == 0
    printed = capsys.readouterr().out
    data = json.loads(out.read_text())
    named = [run["line"] for run in data["influential"]]
    assert set(named[:4]) == {2, 3, 4, 5}
    assert {2, 3, 4, 5, 6} <= set(named)  # the five rows Epoch AI dropped
    assert set(data["influential"][0]) == {
        *("line", "N", "D", "loss", "effect", "after", "reasons", "residual_z")
    }
    assert 6 in data["influence"]["outliers"]
    assert "influential runs" in printed
    assert "--exclude-lines 2,3,4,5" in printed
    assert "outliers of the fit" in printed

    assert run_cli(monkeypatch, "fit", str(DATA), "--exclude-lines", "2-6", "--json", str(out)) == 0
    printed = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["n_points"] == 240
    assert "5 of 245 rows (line 2, line 3, line 4, line 5, line 6)" in printed
    for name, value in GLOBAL_OPTIMUM.items():
        assert data["params"][name] == pytest.approx(value, rel=0.01), name
    assert data["runs_table"]["filters"][0].startswith("--exclude-lines")


def test_allocation_starts_at_the_data_and_says_how_far_past(tmp_path, monkeypatch, capsys):
    out = tmp_path / "fit.json"
    args = ["--exclude-lines", "2-6", "--decades", "2", "--no-influence", "--json", str(out)]
    assert run_cli(monkeypatch, "fit", str(DATA), *args) == 0
    printed = capsys.readouterr().out
    rows = json.loads(out.read_text())["allocation"]
    largest = 1.2956022673438285e22
    assert [row["C"] for row in rows][1:] == pytest.approx([largest, largest * 10, largest * 100])
    assert [row["decades_past_data"] for row in rows] == pytest.approx([0, 0, 1, 2])
    assert "in data" in printed
    assert "+2" in printed
    assert "0.0 " not in printed


def test_best_over_reduce_weights_and_delta_from_the_command_line(tmp_path, monkeypatch, capsys):
    lines = ["N,D,loss,lr,seed,w"]
    for N in (3e7, 1e8, 3e8, 1e9):
        for D in (1e9, 3e9, 1e10, 3e10):
            for lr, bump in ((1e-3, 0.05), (3e-3, 0.0)):
                for seed, noise in ((0, 0.004), (1, -0.004)):
                    loss = float(LAW.predict(N=N, D=D)) + bump + noise
                    lines.append(f"{N},{D},{loss!r},{lr},{seed},{1 + seed}")
    path = tmp_path / "runs.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "fit.json"
    args = ["--best-over", "lr", "--reduce", "mean", "--delta", "0.01", "--json", str(out)]
    assert run_cli(monkeypatch, "fit", str(path), *args) == 0
    printed = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["n_points"] == 16
    assert "filter: --reduce mean: one row per (N, D, lr)" in printed
    assert "filter: --best-over lr" in printed
    for name, value in LAW.params.items():
        assert data["params"][name] == pytest.approx(value, rel=0.02), name
    assert run_cli(monkeypatch, "fit", str(path), "--weights", "w", "--json", str(out)) == 0
    printed = capsys.readouterr().out
    assert "64 rows" in printed
    assert "(N, D) pairs appear in several rows" in printed
    assert run_cli(monkeypatch, "fit", str(path), "--weights", "w", "--bootstrap", "2") == 2
    assert "not combined with --bootstrap" in capsys.readouterr().err


def test_units_and_dialects(tmp_path, monkeypatch, capsys):
    sizes, tokens = np.geomspace(1e7, 1e9, 4), np.geomspace(1e9, 1e11, 4)
    path = tmp_path / "ppl.csv"
    rows = [f"{N},{D},{np.exp(float(LAW.predict(N=N, D=D)))}" for N in sizes for D in tokens]
    path.write_text("N,D,loss\n" + "\n".join(rows) + "\n")
    assert run_cli(monkeypatch, "fit", str(path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "look like perplexity" in err
    european = tmp_path / "eu.csv"
    rows = [
        f"{N};{D};{float(LAW.predict(N=N, D=D))}".replace(".", ",") for N in sizes for D in tokens
    ]
    european.write_text("N;D;loss\n" + "\n".join(rows) + "\n")
    assert run_cli(monkeypatch, "fit", str(european), "--no-influence") == 0
    assert "read as semicolon-separated with decimal commas" in capsys.readouterr().out


def test_help_lists_the_new_options(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")
    assert run_cli(monkeypatch, "fit", "--help") == 0
    text = capsys.readouterr().out
    for option in (
        "--best-over",
        "--reduce",
        "--min-tokens-per-param",
        "--max-loss",
        "--exclude-lines",
        "--weights",
        "--delta",
        "--decades",
        "--no-influence",
    ):
        assert option in text


def test_epoch_published_estimates_without_the_five_highest_losses(tmp_path, monkeypatch):
    """Besiroglu et al. 2024's Huber-likelihood fit of the 240 points (their Table)."""
    out = tmp_path / "fit.json"
    args = ["--exclude-lines", "2-6", "--objective", "huber_likelihood", "--no-influence"]
    assert run_cli(monkeypatch, "fit", str(DATA), *args, "--json", str(out)) == 0
    params = json.loads(out.read_text())["params"]
    published = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
    for name, value in published.items():
        assert params[name] == pytest.approx(value, rel=0.01), name
