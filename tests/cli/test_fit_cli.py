"""``scalinglab fit`` end to end: tables printed, JSON schema, plots, errors, speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

from scalinglab.cli.app import main
from scalinglab.laws.forms import ChinchillaLaw

DATA = Path(__file__).parents[1] / "data" / "chinchilla_epoch_2024.csv"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIT_KEYS = {"method", "form", "params", "a", "b", "ci", "ci_level", "n_points", "objective"}


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """Run ``scalinglab ARGS`` in this process through ``main``; return the exit status."""
    monkeypatch.setattr(sys, "argv", ["scalinglab", *args])
    with pytest.raises(SystemExit) as caught:
        main()
    return int(caught.value.code or 0)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def isoflop_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """IsoFLOP runs of a known Chinchilla law (4 budgets x 7 sizes, 1% noise), aliased columns."""
    law = ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
    rng = np.random.default_rng(0)
    lines = ["params,tokens,flops,val_loss"]
    for C in (1e18, 1e19, 1e20, 1e21):
        n_opt, _ = law.compute_optimal(C)
        for factor in np.geomspace(0.25, 4.0, 7):
            N = float(n_opt * factor)
            D = float(C / (6.0 * N))
            loss = float(law.predict(N, D)) * float(np.exp(rng.normal(0.0, 0.01)))
            lines.append(f"{N!r},{D!r},{C!r},{loss!r}")
    path = tmp_path_factory.mktemp("isoflop") / "runs.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_json_dash_prints_the_fit_to_stdout_and_writes_no_file(
    isoflop_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    status = run_cli(monkeypatch, "fit", str(isoflop_csv), "--method", "approach3", "--json", "-")
    printed, err = capsys.readouterr()
    assert (status, err) == (0, "")
    data = json.loads(printed)
    assert set(data) >= FIT_KEYS
    assert data["method"] == "approach3"
    assert data["n_points"] == 28
    assert not (tmp_path / "-").exists()


def test_all_methods_json_and_three_plots(
    isoflop_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, png = tmp_path / "all.json", tmp_path / "all.png"
    status = run_cli(
        monkeypatch,
        "fit",
        str(isoflop_csv),
        "--method",
        "all",
        "--json",
        str(out),
        "--plot",
        str(png),
    )
    printed, err = capsys.readouterr()
    assert (status, err) == (0, "")
    for text in ("params", "val_loss", "approach2: compute-optimal allocation", "starts in best"):
        assert text in printed
    data = json.loads(out.read_text())
    assert data["method"] == "all"
    assert data["n_points"] == 28
    assert set(data["fits"]) == {"approach1", "approach2", "approach3", "kaplan"}
    for fit in data["fits"].values():
        assert set(fit) >= FIT_KEYS
    assert abs(data["fits"]["approach2"]["a"] - 0.37 / 0.72) < 0.05
    assert data["runs_table"]["column_mapping"] == {
        "params": "N",
        "tokens": "D",
        "flops": "C",
        "val_loss": "loss",
    }
    for path in (png, tmp_path / "all-isoflop.png", tmp_path / "all-nstar.png"):
        assert path.read_bytes().startswith(PNG_MAGIC)
        assert path.stat().st_size > 10_000
        assert f"wrote {path}" in printed


def test_approach3_bootstrap_and_holdout(
    isoflop_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, png = tmp_path / "fit.json", tmp_path / "deep" / "fit.png"
    args = ["--bootstrap", "4", "--jobs", "1", "--holdout-largest", "2", "--seed", "3"]
    status = run_cli(
        monkeypatch, "fit", str(isoflop_csv), *args, "--json", str(out), "--plot", str(png)
    )
    printed, err = capsys.readouterr()
    assert (status, err) == (0, "")
    assert "held-out runs" in printed
    data = json.loads(out.read_text())
    assert set(data) >= FIT_KEYS | {"bootstrap_params", "holdout", "runs_table"}
    assert data["method"] == "approach3"
    assert data["form"] == "chinchilla"
    assert set(data["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert len(data["bootstrap_params"]["alpha"]) == 4
    assert set(data["ci"]) >= {"alpha", "beta", "a", "b"}
    assert len(data["holdout"]) == 2
    assert set(data["holdout"][0]) == {
        *("N", "D", "C", "loss", "predicted", "rel_error", "lower", "upper")
    }
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert not (tmp_path / "deep" / "fit-isoflop.png").exists()
    assert (tmp_path / "deep" / "fit-nstar.png").exists()


def test_all_reports_a_method_that_cannot_fit_and_fits_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    law = ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
    rows = [(1e8 * n, 2e9 * d) for n in (1, 3, 9) for d in (1, 5, 25)]  # 9 distinct budgets
    text = "N,D,loss\n" + "".join(f"{n!r},{d!r},{float(law.predict(n, d))!r}\n" for n, d in rows)
    out = tmp_path / "fit.json"
    status = run_cli(
        monkeypatch,
        "fit",
        str(write(tmp_path, "r.csv", text)),
        "--method",
        "all",
        "--json",
        str(out),
    )
    assert status == 0
    assert (
        "approach2: not fitted: approach 2 needs at least two compute budgets"
        in capsys.readouterr().out
    )
    fits = json.loads(out.read_text())["fits"]
    assert set(fits["approach2"]) == {"method", "error"}
    assert fits["approach3"]["params"]["alpha"] == pytest.approx(0.35, abs=0.02)


@pytest.mark.slow
def test_example_chinchilla_reproduces_the_exhaustive_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fit.json"
    status = run_cli(monkeypatch, "fit", "--example", "chinchilla", "--json", str(out))
    printed = capsys.readouterr().out
    assert status == 0
    assert "removed the 5 highest losses, as Epoch AI did: 240 points" in printed
    data = json.loads(out.read_text())
    assert data["n_points"] == 240
    assert data["runs_table"]["source"] == "chinchilla_epoch_2024.csv (bundled example)"
    objective = _epoch_objective()
    printed_params = theta_of(data["params"])
    epoch = theta_of(EPOCH_PUBLISHED)
    options = {"maxiter": 20_000, "xatol": 1e-10, "fatol": 1e-15}
    from_epoch = minimize(objective, epoch, method="Nelder-Mead", options=options)
    # The JSON rounds nothing away: its parameters reach scipy's minimum from Epoch's
    # published start, and scipy started from them finds nothing lower.
    assert objective(printed_params) <= from_epoch.fun * (1 + 1e-9)
    assert minimize(objective, printed_params, method="Nelder-Mead").fun >= (
        objective(printed_params) * (1 - 1e-9)
    )
    for name in ("E", "alpha", "beta"):  # A and B lie on a flat ridge of the objective
        assert data["params"][name] == pytest.approx(EPOCH_PUBLISHED[name], rel=0.005)


#: Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt", their Huber fit.
EPOCH_PUBLISHED = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}


def theta_of(params: dict[str, float]) -> np.ndarray:
    """Epoch's parameterisation: (log A, log B, log E, alpha, beta)."""
    logs = [np.log(params[name]) for name in ("A", "B", "E")]
    return np.array([*logs, params["alpha"], params["beta"]])


def _epoch_objective() -> Callable[[np.ndarray], float]:
    """Epoch's objective written out here, independently of scalinglab: summed Huber
    (delta 1e-3) of log-sum-exp predictions minus log losses, on the 240 points left
    after removing the 5 highest losses."""
    table = pd.read_csv(DATA)
    table = table[table["loss"] < np.sort(table["loss"].to_numpy())[-5]]
    log_n, log_d = np.log(table["N"].to_numpy(float)), np.log(table["D"].to_numpy(float))
    log_loss = np.log(table["loss"].to_numpy(float))

    def objective(theta: np.ndarray) -> float:
        a, b, e, alpha, beta = theta
        terms = [a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)]
        r = np.abs(logsumexp(terms, axis=0) - log_loss)
        return float(np.sum(np.where(r <= 1e-3, 0.5 * r**2, 1e-3 * (r - 0.5e-3))))

    return objective


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("N,D\n1e8,2e9\n", ["runs.csv, line 1, column loss: no column for loss"]),
        ("N,D,loss\n1e8,2e9,3\n1e8,x,3\n", ["runs.csv, line 3, column D: 'x' is not a number"]),
        ("N,D,loss\n1e8,2e9,3\n-1,2e9,3\n", ["runs.csv, line 3, column N: N is -1"]),
        ("N,D,loss\n1e8,2e9,nan\n", ["runs.csv, line 2, column loss: loss is nan"]),
        ("N,D,loss\n1e8,2e9,3\n1e8,2e9,3\n", ["runs.csv, line 3: this row repeats line 2"]),
        ("", ["runs.csv: the file is empty"]),
        ("N,D,loss\n1e8,2e9,3\n2e8,2e9,2.9\n", ["2 runs are fewer than the 5 parameters"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    words: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "runs.csv", text)
    assert run_cli(monkeypatch, "fit", "runs.csv") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    for word in words:
        assert word in err


def test_file_and_example_together_is_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(monkeypatch, "fit", str(DATA), "--example", "chinchilla") == 2
    assert run_cli(monkeypatch, "fit") == 2
    assert run_cli(monkeypatch, "fit", "--example", "gopher") == 2
    assert "no bundled example called 'gopher'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "target", "words"),
    [
        ("--plot", "fit.jpg", "must end in .png"),
        ("--plot", "folder.png", "is a folder"),
        ("--json", "folder.png", "is a folder"),
        ("--plot", "file.txt/fit.png", "cannot write"),
        ("--json", "file.txt/fit.json", "cannot write"),
    ],
)
def test_bad_output_paths_are_one_line_errors(
    isoflop_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    option: str,
    target: str,
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "file.txt").write_text("not a folder")
    status = run_cli(monkeypatch, "fit", str(isoflop_csv), "--method", "approach1", option, target)
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert words in err


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    runs = write(tmp_path, "runs.jsonl", '{"N": 1e8, "D": 2e9, "loss": 3}\n{"N": "big"}\n')
    done = subprocess.run(
        [sys.executable, "-m", "scalinglab", "fit", str(runs)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().endswith("or delete the row")
    assert f"{runs}, line 2, column N: 'big' is not a number" in done.stderr


def test_help_in_a_real_process_is_complete() -> None:
    """Every option is documented in ``--help``. Its start-up time is a benchmark figure
    (BENCHMARKS.md, `scalinglab plan` start-up section), not a unit-test bound."""
    stdout = subprocess.run(
        [sys.executable, "-m", "scalinglab", "fit", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    for option in ("--example", "--method", "--bootstrap", "--holdout-largest", "--holdout-by"):
        assert option in stdout
    for option in ("--objective", "--seed", "--jobs", "--json", "--plot", "FLOPs"):
        assert option in stdout


def test_laws_and_fit_cli_do_not_import_torch_or_heavy_modules() -> None:
    code = (
        "import sys, scalinglab.laws, scalinglab.laws.runs_table, scalinglab.laws.fit_file, "
        "scalinglab.cli.fit; "
        "bad = sorted(m for m in ('torch', 'matplotlib') if m in sys.modules); print(bad)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_fit_runs_on_a_machine_without_torch(tmp_path: Path) -> None:
    """``scalinglab fit`` (whole CLI, a fit and its plots) with ``import torch`` failing."""
    code = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('torch is not installed here')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from scalinglab.cli.app import main\n"
        "main()\n"
    )
    args = ["fit", "--example", "chinchilla", "--method", "approach1", "--plot", "fit.png"]
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "fit-nstar.png").exists()


def test_fit_cli_module_imports_only_typer_and_stdlib() -> None:
    code = (
        "import sys; before = set(sys.modules); import scalinglab.cli.fit; "
        "new = set(sys.modules) - before; "
        "print(sorted(m for m in ('numpy', 'pandas', 'scipy', 'matplotlib', 'torch') if m in new))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
