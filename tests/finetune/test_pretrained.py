"""Pretrained runs as sweep rungs: reading run folders, the law of pretraining FLOPs, and
a real pretrain -> fine-tune sweep on tiny BERTs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.finetune.pretrained import (
    PretrainedRunWarning,
    find_pretrained_runs,
    read_pretrained_run,
)
from scalinglab.finetune.sweep import SweepOptions, aggregate, pretraining_laws


def _summary(**changes):
    summary = {
        "status": "completed",
        "reason": "",
        "family": "bert",
        "n_params": 200_000,
        "n_params_nonembed": 58_496,
        "tokens": 58_880,
        "flops": 1.16e11,
        "train_seconds": 95.5,
        "final_val_loss": 6.25,
    }
    return {**summary, **changes}


def _run_folder(root, name, with_hf=True, **changes):
    folder = root / name
    (folder / "hf").mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(_summary(**changes)))
    if with_hf:
        (folder / "hf" / "config.json").write_text("{}")
        (folder / "hf" / "model.safetensors").write_bytes(b"")
    return folder


def _broken_summary(root):
    folder = _run_folder(root, "broken")
    (folder / "summary.json").write_text('{"status": "completed",')
    return folder


def test_a_run_folder_becomes_a_rung_with_its_pretraining_cost(tmp_path):
    folder = _run_folder(tmp_path, "bert-L1d64")
    rung = read_pretrained_run(folder)
    assert rung.model == str(folder / "hf")
    assert rung.columns() == {
        "pretrain_run": "bert-L1d64",
        "pretrain_flops": 1.16e11,
        "pretrain_tokens": 58_880,
        "pretrain_seconds": 95.5,
        "pretrain_n_params_nonembed": 58_496,
        "pretrain_val_loss": 6.25,
    }


def test_a_sweep_folder_gives_its_completed_runs_by_compute_and_warns_of_the_rest(tmp_path):
    _run_folder(tmp_path, "big", flops=4e12)
    _run_folder(tmp_path, "small", flops=1e11)
    _run_folder(tmp_path, "lost", status="diverged", reason="loss 9.1 > 2x its best")
    (tmp_path / "not-a-run").mkdir()
    with pytest.warns(PretrainedRunWarning, match="lost is diverged .loss 9.1"):
        rungs = find_pretrained_runs([str(tmp_path), str(tmp_path / "small")])
    assert [rung.run_id for rung in rungs] == ["small", "big"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "missing", "is not a folder"),
        (lambda root: root, "no run folder"),
        (lambda root: _run_folder(root, "r", with_hf=False), "no Hugging Face export"),
        (lambda root: _run_folder(root, "g", family="gpt"), "is a gpt model"),
        (lambda root: _run_folder(root, "f", flops=None), "lacks a usable"),
        (lambda root: _broken_summary(root), "invalid JSON"),
    ],
)
def test_bad_pretrained_runs_are_one_line_errors(tmp_path, make, message):
    with pytest.raises(ScalingLabError, match=message):
        find_pretrained_runs([str(make(tmp_path))])


def _row(model, f1, flops=None, reasons=()):
    return {
        "model": model,
        "method": "full",
        "seed": 0,
        "n_params": 1,
        "macro_f1": f1,
        "accuracy": f1,
        "degenerate_reasons": list(reasons),
        "pretrain_run": model if flops else None,
        "pretrain_flops": flops,
    }


def test_the_law_of_pretraining_flops_recovers_a_known_law_and_names_what_it_left_out():
    E, A, alpha = 0.12, 15.0, 0.15  # error = E + A C^-alpha, the reference law
    budgets = np.geomspace(1e11, 1e14, 6)
    rows = [_row(f"b{i}", 1 - (E + A * c**-alpha), flops=c) for i, c in enumerate(budgets)]
    rows += [_row("minilm-L2", 0.8), _row("b-bad", 0.41, flops=2e12, reasons=["predicts one"])]
    options = SweepOptions(methods=("full",), bootstrap=20)
    law = pretraining_laws(aggregate(rows), options)["full"]
    params = law["law"]["params"]
    assert law["x"] == "pretrain_flops"
    assert law["points"] == 6
    assert params["E"] == pytest.approx(E, abs=1e-3)
    assert params["alpha"] == pytest.approx(alpha, rel=1e-2)
    expected = E + A * (10 * budgets[-1]) ** -alpha
    assert law["predicted_error"]["10x_largest"] == pytest.approx(expected, rel=1e-3)
    low, high = law["predicted_error_95"]["10x_largest"]
    assert low <= expected * (1 + 1e-3)
    assert high >= expected * (1 - 1e-3)
    assert {e["model"]: e["why"] for e in law["excluded"]} == {
        "minilm-L2": "no pretraining cost (not a --pretrained-runs rung)",
        "b-bad": "degenerate",
    }


def test_too_few_pretraining_budgets_say_so():
    rows = [_row(f"b{i}", 0.6 + 0.05 * i, flops=1e11 * 4**i) for i in range(3)]
    law = pretraining_laws(aggregate(rows), SweepOptions(methods=("full",), bootstrap=0))["full"]
    assert law["law"] is None
    assert law["note"] == "needs at least 4 pretraining budgets to fit 3 parameters"


@pytest.fixture(scope="module")
def pretrained_root(tmp_path_factory):
    """Three tiny BERTs (MLM + NSP) pretrained for a few steps on the first KJV chapters."""
    torch = pytest.importorskip("torch")
    from scalinglab.data.corpus import load_corpus
    from scalinglab.train import TrainConfig, run_training

    base = tmp_path_factory.mktemp("pretrain")
    corpus = base / "kjv150.jsonl"
    docs = load_corpus("kjv").documents[:150]
    corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    torch.set_num_threads(1)
    root = base / "runs" / "bert-ladder"
    for width in (16, 32, 48):
        config = TrainConfig(
            out_dir=str(root / f"bert-d{width}"),
            family="bert",
            nsp=True,
            n_layer=1,
            d_model=width,
            n_head=2,
            n_ctx=32,
            vocab_size=512,
            tokens=8 * 32 * 6,
            batch_size=8,
            corpus=str(corpus),
            val_tokens=512,
            threads=1,
            peak_flops=1e11,
            cache_dir=str(base / "cache"),
            device="cpu",
        )
        assert run_training(config, progress=False).status == "completed"
    return root


@pytest.mark.slow
def test_pretrain_then_finetune_sweep_carries_pretraining_cost(pretrained_root, toy_csv, tmp_path):
    from typer.testing import CliRunner

    from scalinglab.cli.app import app

    task = toy_csv(tmp_path / "toy.csv", n_per_class=16)
    args = ["finetune-sweep", "--pretrained-runs", str(pretrained_root), "--methods", "full"]
    args += ["--task", str(task), "--baselines", "", "--epochs", "2", "--max-length", "24"]
    args += ["--batch-size", "8", "--bootstrap", "0", "--latency-repeats", "2"]
    args += ["--throughput-batches", "1", "--threads", "1", "--quiet", "--device", "cpu"]
    args += ["--out", str(tmp_path / "s"), "--json", str(tmp_path / "s.json")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "s.json").read_text())
    full = [row for row in data["table"] if row["method"] == "full"]
    assert [row["pretrain_run"] for row in full] == ["bert-d16", "bert-d32", "bert-d48"]
    summaries = [
        json.loads((pretrained_root / row["pretrain_run"] / "summary.json").read_text())
        for row in full
    ]
    assert [row["pretrain_flops"] for row in full] == [s["flops"] for s in summaries]
    assert [row["pretrain_tokens"] for row in full] == [s["tokens"] for s in summaries]
    assert [row["pretrain_seconds"] for row in full] == [s["train_seconds"] for s in summaries]
    assert all(row["model"].endswith("/hf") for row in full)  # no MiniLM rungs by default
    law = data["laws_by_pretrain_flops"]["full"]
    assert law["x"] == "pretrain_flops"
    assert law["law"] is None
    assert "needs at least 4 pretraining budgets" in law["note"]
    assert "full: no law of pretraining FLOPs (needs at least 4" in result.output
    assert "bert-d48" in result.output
    assert "pretrain C" in result.output
    header = (tmp_path / "s" / "table.csv").read_text().splitlines()[0]
    assert "pretrain_flops,pretrain_tokens,pretrain_seconds" in header
