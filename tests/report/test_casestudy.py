"""The case-study report: a finetune-sweep (written here from a known law) and a real plan
carrying it to the seed's sizes, as HTML, Markdown and PNGs; the CLI; a Chromium render."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.plan import PlanRequest, make_plan
from scalinglab.report.casestudy import build_casestudy_report

E, A, ALPHA = 0.1, 40.0, 0.3
FITTED = (1.92e6, 3.70e6, 5.47e6, 7.25e6, 10.8e6)
runner = CliRunner()


def _f1(n):
    return 1.0 - (E + A * n ** (-ALPHA))


def _sweep():
    rng = np.random.default_rng(2)
    rows = [
        {"model": f"minilm-L{i}", "method": "full", "n_params": int(n + 11.9e6),
         "n_params_nonembed": int(n), "train_seconds": 30.0 * i, "latency_ms_p50": 3.0 * i,
         "latency_ms_p95": 4.0 * i, "throughput_per_s": 500.0 / i, "macro_f1": _f1(n),
         "macro_f1_std": 0.01, "accuracy": _f1(n) + 0.02, "seeds": 3, "degenerate": i == 1,
         "degenerate_reasons": ["predicts one class"] if i == 1 else []}
        for i, n in enumerate(FITTED, start=1)
    ]  # fmt: skip
    rows += [
        {"model": "-", "method": "majority-class", "n_params": 0, "n_params_nonembed": 0,
         "macro_f1": 0.412, "macro_f1_std": 0.0, "seeds": 1, "degenerate": False},
        {"model": "minilm-L4", "method": "zero-shot", "n_params": 19e6,
         "n_params_nonembed": None, "macro_f1": 0.65, "macro_f1_std": 0.0, "seeds": 1,
         "degenerate": False},
    ]  # fmt: skip
    samples = {
        "E": (E + 0.01 * rng.standard_normal(200)).tolist(),
        "A": (A * np.exp(0.1 * rng.standard_normal(200))).tolist(),
        "alpha": (ALPHA + 0.01 * rng.standard_normal(200)).tolist(),
    }
    law = {
        "form": "power_offset", "y": "1 - macro_f1", "points": 4,
        "law": {"form": "power_offset", "params": {"E": E, "A": A, "alpha": ALPHA}},
        "converged": True, "warnings": [], "parameters_at_bounds": [],
        "intervals_95": {"E": [0.08, 0.12], "A": [33.0, 48.0], "alpha": [0.28, 0.32]},
        "predicted_error": {"10x_largest": float(1 - _f1(108e6))},
        "predicted_error_95": {"10x_largest": [0.2, 0.3]},
        "gain_from_doubling_largest": 0.01,
        "x_range": [FITTED[1], FITTED[-1]], "ci_level": 0.95, "bootstrap_params": samples,
    }  # fmt: skip
    pick = {key: rows[3][key] for key in ("model", "method", "n_params", "n_params_nonembed")}
    recommendation = {
        "reason": "minilm-L4 full is the smallest of 4 usable rows within 0.01 of the best",
        "smallest_within_tolerance": {**pick, "train_seconds": 120.0, "latency_ms_p50": 12.0,
                                      "macro_f1": rows[3]["macro_f1"]},
        "excluded": [{"model": "minilm-L1", "method": "full", "why": "degenerate"}],
    }  # fmt: skip
    return {"table": rows, "laws": {"full": law}, "recommendation": recommendation,
            "task": {"labels": ["negative", "positive"]}}  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("casestudy")
    sweep = folder / "sweep.json"
    sweep.write_text(json.dumps(_sweep()))
    plan = make_plan(
        PlanRequest(
            law="epoch2024", family="bert", gpu="a100", gpus=8, flops=3e21,
            sizes="100M,300M,600M,1.3B,3B,6.7B", seq_len=512, vocab_size=30522, batch=64,
            finetune_sweep=sweep,
        )
    )  # fmt: skip
    plan_path = folder / "plan.json"
    plan_path.write_text(json.dumps(plan.to_json_dict()))
    return sweep, plan_path, plan


@pytest.fixture(scope="module")
def study(inputs, tmp_path_factory):
    sweep, plan_path, _ = inputs
    return build_casestudy_report(sweep, tmp_path_factory.mktemp("out"), plan=plan_path)


def test_files_tables_and_plots(study, inputs):
    _, _, plan = inputs
    assert sorted(p.name for p in study.pngs) == [
        "casestudy-cost.png", "casestudy-plan-cost.png", "casestudy-score.png"
    ]  # fmt: skip
    html = study.html.read_text()
    assert html.count("data:image/png;base64,") == 3
    measured_l3 = f"{_f1(FITTED[2]):.4f} ± 0.010"
    for text in ("minilm-L3", "majority-class", "zero-shot", "degenerate", measured_l3,
                 "Planned sizes on 8 x NVIDIA A100", "6.7B", "decades",
                 "1 - macro_f1 = 0.1000 + 40 N^-0.3000"):  # fmt: skip
        assert text in html, text
    pick = plan.downstream.recommended
    assert plan.candidates[pick].label in re.search(r"Pick \(\*\):</strong> ([^<]*)", html)[1]
    assert "is degenerate: predicts one class" in " ".join(study.warnings)
    assert "fitted to 4 sizes" in " ".join(study.warnings)
    markdown = study.markdown.read_text()
    assert "![Fine-tuned score versus N](casestudy-score.png)" in markdown
    score_6p7 = next(c.downstream for c in plan.candidates if c.label == "6.7B")
    expected = _f1(score_6p7.n_params_nonembed)  # the law, evaluated here
    row = next(line for line in markdown.splitlines() if line.startswith("|  | 6.7B |"))
    assert f"| {expected:.4f} |" in row


def test_report_without_plan_has_the_measured_figures_only(inputs, tmp_path):
    sweep, _, _ = inputs
    study = build_casestudy_report(sweep, tmp_path)
    assert sorted(p.name for p in study.pngs) == ["casestudy-cost.png", "casestudy-score.png"]
    assert "Planned sizes" not in study.html.read_text()


def test_cli_writes_the_case_study(inputs, tmp_path):
    sweep, plan_path, _ = inputs
    result = runner.invoke(
        app, ["report", "--finetune-sweep", str(sweep), "--plan", str(plan_path),
              "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "casestudy.html").exists()
    assert "3 PNGs" in result.output


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ([], "give --sweep NAME, --finetune-sweep SWEEP.json, or both"),
        (["--plan", "plan.json"], "give --finetune-sweep too"),
        (["--finetune-sweep", "missing.json"], "finetune-sweep JSON not found"),
        (["--finetune-sweep", "SWEEP", "--plan", "missing.json"], "plan JSON not found"),
        (["--finetune-sweep", "SWEEP", "--plan", "PLAIN"], "carries no fine-tuned score"),
    ],
)
def test_cli_errors_are_one_line_exit_2(inputs, tmp_path, args, match):
    sweep, _, _ = inputs
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(make_plan(PlanRequest(flops=1e21)).to_json_dict()))
    args = [{"SWEEP": str(sweep), "PLAIN": str(plain)}.get(a, a) for a in args]
    result = runner.invoke(app, ["report", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert match in lines[0]


@pytest.mark.slow
def test_case_study_renders_in_headless_chromium(study, render_in_chromium):
    page = render_in_chromium(study.html)
    assert (page.pixels < 0.9).any(axis=-1).mean() > 0.02, "the page rendered blank"
    assert len(re.findall(r'<img src="data:image/png;base64,', page.dom)) == 3
    assert "Case study: fine-tuned macro_f1" in page.dom
    assert page.console == [], page.console
