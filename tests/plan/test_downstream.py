"""``scalinglab plan --finetune-sweep``: a sweep's fine-tuning law carried to planned sizes.

The sweep JSON is written here from a known law, ``1 - F1 = E + A N**-alpha``, with
bootstrap samples drawn around it, so each expected score and interval is computed from
the formula in the test, not by the planner.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.plan.downstream import classifier_nonembed
from scalinglab.plan.shapes import shape_for_law_n

E, A, ALPHA = 0.1, 40.0, 0.3
FITTED = (1.92e6, 3.70e6, 5.47e6, 7.25e6, 10.8e6)  # the MiniLM rungs' non-embedding N
SIZES = "100M,300M,600M,1.3B,3B,6.7B"
CASE_STUDY = ["plan", "--law", "epoch2024", "--family", "bert", "--gpu", "a100", "--gpus", "8",
              "--flops", "3e21", "--sizes", SIZES, "--seq-len", "512", "--vocab", "30522",
              "--batch", "64"]  # fmt: skip
runner = CliRunner()


def _f1(n, e=E, a=A, alpha=ALPHA):
    return 1.0 - (e + a * np.asarray(n, dtype=float) ** (-alpha))


def _sweep(**law_overrides):
    rng = np.random.default_rng(1)
    samples = {
        "E": (E + 0.01 * rng.standard_normal(400)).tolist(),
        "A": (A * np.exp(0.1 * rng.standard_normal(400))).tolist(),
        "alpha": (ALPHA + 0.01 * rng.standard_normal(400)).tolist(),
    }
    table = [
        {"model": f"minilm-L{i}", "method": "full", "n_params": int(n + 11.9e6),
         "n_params_nonembed": int(n), "macro_f1": float(_f1(n)), "macro_f1_std": 0.0,
         "train_seconds": 10.0 * i, "latency_ms_p50": 2.0 * i, "degenerate": False}
        for i, n in enumerate(FITTED, start=1)
    ]  # fmt: skip
    law = {
        "form": "power_offset", "x": "n_params_nonembed", "y": "1 - macro_f1",
        "points": len(FITTED), "law": {"form": "power_offset",
                                        "params": {"E": E, "A": A, "alpha": ALPHA}},
        "converged": True, "warnings": [], "parameters_at_bounds": [],
        "x_range": [FITTED[0], FITTED[-1]], "ci_level": 0.95, "bootstrap_params": samples,
    }  # fmt: skip
    law.update(law_overrides)
    return {"table": table, "laws": {"full": law}, "task": {"labels": ["neg", "pos"]}}


def _write(tmp_path, data, name="sweep.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _plan(tmp_path, *extra, data=None):
    sweep = _write(tmp_path, data if data is not None else _sweep())
    result = runner.invoke(
        app, [*CASE_STUDY, "--finetune-sweep", str(sweep), *extra, "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_classifier_count_matches_a_real_bert_classifier():
    transformers = pytest.importorskip("transformers")
    from scalinglab.finetune.methods import count_nonembedding

    shape = shape_for_law_n(3e6, "nonembed", "bert", 1000, 128)
    config = transformers.BertConfig(
        vocab_size=shape.vocab_size, hidden_size=shape.d_model,
        num_hidden_layers=shape.n_layer, num_attention_heads=shape.n_head,
        intermediate_size=shape.d_ff, max_position_embeddings=shape.n_ctx, num_labels=3,
    )  # fmt: skip
    model = transformers.BertForSequenceClassification(config)
    assert classifier_nonembed(shape, 3) == count_nonembedding(model)


def test_each_size_gets_the_laws_f1_at_its_classifier_n(tmp_path):
    data = _plan(tmp_path)
    rows = [row for row in data["candidates"] if "x N*" not in row["label"]]
    assert {row["label"] for row in rows} >= {"100M", "300M", "600M", "1.3B", "3B", "6.7B"}
    for row in rows:
        shape = shape_for_law_n(row["n"], "total", "bert", 30522, 512)
        d, layers = shape.d_model, shape.n_layer
        # BERT block with d_ff = 4d: attention 4(d^2 + d), FFN 8d^2 + 5d, two LayerNorms 4d;
        # plus the embedding LayerNorm, the pooler and a 2-class head
        expected_n = 2 * d + layers * (12 * d * d + 13 * d) + d * d + d + 2 * d + 2
        score = row["downstream"]
        assert shape.d_ff == 4 * d
        assert score["n_params_nonembed"] == expected_n
        assert score["score"] == pytest.approx(float(_f1(expected_n)), rel=1e-12)
        assert score["metric"] == "macro_f1"
    by_label = {row["label"]: row["downstream"] for row in rows}
    # BERT-base's 110M has 85M outside its embeddings; the 100M row is in that range
    assert 70e6 < by_label["100M"]["n_params_nonembed"] < 90e6


def test_intervals_are_the_bootstrap_percentiles_and_contain_the_estimate(tmp_path):
    sweep = _sweep()
    data = _plan(tmp_path, data=sweep)
    boot = sweep["laws"]["full"]["bootstrap_params"]
    for row in data["candidates"]:
        score = row["downstream"]
        n = score["n_params_nonembed"]
        samples = _f1(n, np.array(boot["E"]), np.array(boot["A"]), np.array(boot["alpha"]))
        lo, hi = score["interval"]
        assert (lo, hi) == pytest.approx(tuple(np.percentile(samples, [2.5, 97.5])))
        assert lo < score["score"] < hi


def test_rows_are_marked_as_extrapolation_past_the_largest_fitted_size(tmp_path):
    data = _plan(tmp_path)
    for row in data["candidates"]:
        score = row["downstream"]
        x = score["n_params_nonembed"] / FITTED[-1]
        assert score["extrapolated"] is True
        assert score["extrapolation_x"] == pytest.approx(x)
        assert score["extrapolation_decades"] == pytest.approx(math.log10(x))
    assert data["downstream"]["fitted_range"] == [FITTED[0], FITTED[-1]]


def test_a_size_inside_the_fitted_range_is_not_extrapolated(tmp_path):
    sweep = _sweep(x_range=[1e6, 1e9])
    data = _plan(tmp_path, data=sweep)
    inside = {row["label"]: row["downstream"]["extrapolated"] for row in data["candidates"]}
    assert inside["100M"] is False
    assert inside["6.7B"] is True
    result = runner.invoke(
        app, [*CASE_STUDY, "--finetune-sweep", str(_write(tmp_path, sweep, "s2.json"))]
    )
    assert "interpolated" in result.output
    assert "recommended for macro_f1:" in result.output


@pytest.mark.parametrize("tolerance", [0.0, 0.01, 0.03])
def test_f1_pick_is_the_smallest_in_budget_size_within_tolerance(tmp_path, tolerance):
    data = _plan(tmp_path, "--f1-tolerance", str(tolerance))
    rows = data["candidates"]
    in_budget = [i for i, row in enumerate(rows) if row["within_budget"]]
    scores = {i: float(_f1(rows[i]["downstream"]["n_params_nonembed"])) for i in in_budget}
    best = max(scores.values())
    expected = min((i for i in in_budget if scores[i] >= best - tolerance),
                   key=lambda i: rows[i]["n"])  # fmt: skip
    pick = data["downstream"]["recommended"]
    assert pick["index"] == expected
    assert "extrapolated" in pick["reason"]
    if tolerance > 0:
        assert "which would add +" in pick["reason"]
    assert data["recommended"]["index"] != expected or tolerance == 0.0  # loss pick unchanged


def test_weak_laws_are_warned(tmp_path):
    sweep = _sweep(points=4, parameters_at_bounds=["E"], warnings=["E at its lower bound"])
    sweep["laws"]["full"].pop("bootstrap_params")
    sweep["table"][0]["degenerate"] = True
    data = _plan(tmp_path, data=sweep)
    text = " | ".join(data["warnings"])
    for expected in ("fitted to 4 sizes", "parameters at their bounds: E", "E at its lower bound",
                     "minilm-L1 degenerate", "no bootstrap samples"):  # fmt: skip
        assert expected in text
    assert all(row["downstream"]["interval"] is None for row in data["candidates"])


@pytest.mark.parametrize(
    ("content", "extra", "match"),
    [
        (None, [], "finetune-sweep JSON not found"),
        ("{not json", [], "invalid JSON"),
        (b"\xff\xfe", [], "not UTF-8"),
        ('{"runs": []}', [], "not a finetune-sweep result"),
        ("sweep", ["--finetune-method", "lora"], "has no method 'lora'"),
        ("nolaw", [], "fitted no law for 'full' (needs at least 4 model sizes"),
        ("sweep", ["--f1-tolerance", "-0.1"], "--f1-tolerance must be in [0, 1)"),
        ("sweep", ["--family", "gpt"], "plan an encoder family"),
    ],
)
def test_bad_sweep_input_is_one_line_exit_2(tmp_path, content, extra, match):
    path = tmp_path / "sweep.json"
    if content == "sweep":
        path.write_text(json.dumps(_sweep()))
    elif content == "nolaw":
        data = _sweep()
        data["laws"]["full"] = {"law": None, "note": "needs at least 4 model sizes to fit"}
        path.write_text(json.dumps(data))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    result = runner.invoke(app, [*CASE_STUDY, "--finetune-sweep", str(path), *extra])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert match in lines[0]
