"""``benchmarks/gpu_check.sh --cpu-smoke`` runs every step of the GPU check, tiny, on CPU
(the part of it CI can run): the four MFU measurements, FSDP under torchrun,
fine-tuning, and serving probed over HTTP;
each step's JSON and the merged ``gpu_check.json`` are written under ``$OUT``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("fastapi")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


@pytest.mark.slow
def test_cpu_smoke_runs_every_step(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(out)}
    result = subprocess.run(
        ["bash", str(SCRIPT), "--cpu-smoke"],
        capture_output=True, text=True, timeout=1200, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["mode"] == "cpu-smoke"
    assert report["all_ok"] is True
    steps = report["steps"]
    for family in ("gpt", "llama"):
        for variant, compiled in (("eager", False), ("compiled", True)):
            step = steps[f"mfu_{family}_{variant}"]
            assert step["status"] == "ok", step
            mfu = step["result"]
            assert mfu["family"] == family
            assert mfu["compile"] is compiled
            assert mfu["tokens_per_second"] > 0
            assert mfu["mfu"] == pytest.approx(
                mfu["tokens_per_second"] * mfu["flops_per_token"] / mfu["peak_flops"]
            )
            assert mfu["fused_adamw"] is False  # CPU: the foreach path
            assert mfu["tf32"] is False
    assert steps["fsdp"]["status"] == "ok"
    assert steps["fsdp"]["result"]["status"] == "completed"
    finetune = steps["finetune"]["result"]
    assert finetune["method"] == "full"
    assert 0.0 <= finetune["test"]["accuracy"] <= 1.0
    serve = steps["serve"]["result"]
    assert serve["device"] == "cpu"
    assert serve["requests"] == 20
    labels = [p["label"] for p in serve["first_answer"]["predictions"]]
    assert len(labels) == 2
    assert set(labels) <= {"negative", "positive"}
