"""Plans that say how far to trust them: allocation intervals from a fit's bootstrap,
preset provenance, an in-budget recommendation, memory headroom, a BERT warning."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.errors import ScalingLabError
from scalinglab.plan import PRESETS, PlanRequest, make_plan
from scalinglab.plan.memory import TrainingMemory

EPOCH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
runner = CliRunner()


def _fit_json(samples: int = 300) -> dict:
    rng = np.random.default_rng(7)
    boot = {k: (v * (1 + 0.03 * rng.standard_normal(samples))).tolist() for k, v in EPOCH.items()}
    return {"method": "approach3", "form": "chinchilla", "params": EPOCH, "ci_level": 0.95,
            "bootstrap_params": boot}  # fmt: skip


def test_bootstrapped_fit_gives_intervals_on_n_d_and_tokens_per_param():
    doc = _fit_json()
    plan = make_plan(PlanRequest(law=doc, flops=1e23))
    p = {k: np.asarray(v) for k, v in doc["bootstrap_params"].items()}
    # Hoffmann et al. eq. 4, written out: N* = G (C/6)^(beta/(alpha+beta)), D* = C / (6 N*)
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    n = G * (1e23 / 6) ** (p["beta"] / (p["alpha"] + p["beta"]))
    d = 1e23 / (6 * n)
    for key, values in (("n_opt", n), ("d_opt", d), ("tokens_per_param", d / n)):
        expected = np.percentile(values, [2.5, 97.5])
        assert plan.allocation_interval[key] == pytest.approx(tuple(expected), rel=1e-6)
    data = plan.to_json_dict()
    lo, hi = data["tokens_per_param_interval"]
    assert lo < data["tokens_per_param"] < hi
    lo, hi = data["predicted_loss_interval"]
    assert lo < data["predicted_loss"] < hi
    names = {f["name"] for f in data["figures"]}
    assert {"N* interval", "D* interval", "tokens per parameter interval"} <= names


def test_a_preset_has_no_interval_but_states_its_provenance():
    plan = make_plan(PlanRequest(law="chinchilla", flops=5.76e23))
    assert plan.allocation_interval is None
    assert plan.to_json_dict()["n_opt_interval"] is None
    provenance = plan.to_json_dict()["law"]["provenance"]
    assert "published constants" in provenance
    assert "epoch2024" in provenance
    assert all(preset.provenance for preset in PRESETS.values())
    result = runner.invoke(app, ["plan", "--law", "chinchilla", "--flops", "5.76e23"])
    assert result.exit_code == 0
    assert "provenance" in result.output
    assert "epoch2024" in " ".join(result.output.split())


@pytest.mark.parametrize(
    "options",
    [
        {"flops": 1e23, "gpu": "h100", "gpus": 256, "inference_tokens": 1e13},
        {"flops": 1e23, "inference_tokens": 1e15},
        {"flops": 1e23, "loss_tolerance": 0.06},
        {"flops": 1e21, "sizes": "100M,300M,600M,1.3B,3B,6.7B"},
    ],
)
def test_the_recommended_row_is_always_in_budget(options):
    plan = make_plan(PlanRequest(law="epoch2024", **options))
    assert plan.candidates[plan.recommended].within_budget


def test_memory_fits_only_within_the_headroom():
    # 78.4 GB on an 80 GB device: over the 72 GB that a 10% headroom leaves
    row = TrainingMemory("ddp", 78.4e9, 0.0, 0.0, 0.0, 0.0, device_bytes=80e9)
    assert row.fits is False
    assert row.usable_bytes == pytest.approx(72e9)
    assert TrainingMemory("ddp", 78.4e9, 0.0, 0.0, 0.0, 0.0, 80e9, headroom=0.0).fits is True
    plan = make_plan(PlanRequest(law="epoch2024", flops=1e21, gpu="h100", memory_headroom=0.25))
    assert all(r.headroom == 0.25 for r in plan.memory)
    with pytest.raises(ScalingLabError, match="headroom"):
        make_plan(PlanRequest(law="epoch2024", flops=1e21, gpu="h100", memory_headroom=1.0))
    result = runner.invoke(
        app, ["plan", "--flops", "1e21", "--gpu", "h100", "--memory-headroom", "-1"]
    )
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1


def test_a_decoder_law_on_a_bert_family_is_warned(tmp_path):
    assert make_plan(PlanRequest(law="epoch2024", flops=1e21)).warnings == ()
    (warning,) = make_plan(PlanRequest(law="epoch2024", flops=1e21, family="bert")).warnings
    assert "decoder" in warning
    assert "bert-family encoder" in warning
    path = tmp_path / "law.json"
    path.write_text(json.dumps(_fit_json()))
    own = PlanRequest(law=str(path), flops=1e21, family="bert")
    assert make_plan(own).warnings == ()  # your own runs
    result = runner.invoke(app, ["plan", "--flops", "1e21", "--family", "bert"])
    assert result.exit_code == 0
    assert "warning" in result.output
