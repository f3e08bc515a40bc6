"""Data-parallel training over 2 CPU processes (torchrun, gloo) follows the single-process
loss curve.

Both runs see the same global batches (ranks take disjoint halves of the same sample
indices) and the loss is normalized by the global token count, so the gradients agree up
to floating-point summation order (the all-reduce adds the two halves' gradients in a
different order than one backward pass). Such fp32 rounding differences are about 1e-7
relative per step; over 40 AdamW steps on a smooth loss they stay far below 1e-4, which
is the tolerance (the same the resume test uses), while a wrong batch split or loss
normalization moves the curve by 1e-2 or more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scalinglab.train import run_training

CHILD = """
import json, sys
import torch
torch.set_num_threads(1)
from scalinglab.train import TrainConfig, run_training
run_training(TrainConfig.from_dict(json.loads(sys.argv[1])), progress=False)
"""


def curve(out_dir: str) -> list[tuple[float, float]]:
    lines = (Path(out_dir) / "metrics.jsonl").read_text().splitlines()
    return [(json.loads(x)["train_loss"], json.loads(x)["val_loss"]) for x in lines]


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tiny, tmp_path: Path) -> None:
    single = run_training(tiny("single"), progress=False)
    cfg = tiny("ddp")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(script), json.dumps(cfg.to_dict())],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((Path(cfg.out_dir) / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["tokens"] == single.tokens
    ddp_curve, one_curve = curve(cfg.out_dir), curve(single.out_dir)
    assert len(ddp_curve) == len(one_curve) == 4
    for (train_a, val_a), (train_b, val_b) in zip(ddp_curve, one_curve, strict=True):
        assert train_a == pytest.approx(train_b, rel=1e-4)
        assert val_a == pytest.approx(val_b, rel=1e-4)
    assert summary["final_val_loss"] == pytest.approx(single.final_val_loss, rel=1e-4)
