"""Checkpoints are verified before they are loaded: a corrupt or truncated newest one is
skipped with a warning and the run resumes from the previous intact one, ending exactly
where an undamaged run ends; corruption is never taken for divergence. Temporary folders
of live writers are left alone; one process at a time trains a run folder."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scalinglab.errors import ScalingLabError, ScalingLabWarning
from scalinglab.train import run_training
from scalinglab.train.checkpoint import checkpoint_problem, latest_checkpoint, save_checkpoint
from scalinglab.train.runlock import run_folder_lock


def _steps(cfg) -> list[int]:
    root = Path(cfg.out_dir) / "checkpoints"
    return sorted(int(p.name.split("-")[1]) for p in root.glob("step-*"))


def _stopped_run(tiny, name: str):
    """A run stopped at step 20 with checkpoints at 10 and 20 (the newest two kept)."""
    cfg = tiny(name, checkpoint_every=10, eval_every=10, stop_at_step=20)
    run_training(cfg, progress=False)
    assert _steps(cfg) == [10, 20]
    return cfg


def test_state_records_the_sha256_of_each_weight_file(tiny) -> None:
    cfg = _stopped_run(tiny, "sums")
    folder = latest_checkpoint(cfg.out_dir)
    state = json.loads((folder / "state.json").read_text())
    for name in ("model.safetensors", "optimizer.safetensors"):
        assert state["checksums"][name] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    assert checkpoint_problem(folder) is None


def _overwrite_middle(path: Path) -> None:
    """8 KB of 0xFF written into the middle of the file (its size unchanged)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8192] = b"\xff" * len(data[middle : middle + 8192])
    path.write_bytes(bytes(data))


DAMAGES = {
    "weights overwritten": lambda f: _overwrite_middle(f / "model.safetensors"),
    "weights truncated": lambda f: (f / "model.safetensors").write_bytes(
        (f / "model.safetensors").read_bytes()[:1000]
    ),
    "optimizer truncated": lambda f: (f / "optimizer.safetensors").write_bytes(b""),
    "state.json cut": lambda f: (f / "state.json").write_text("{"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_latest_resumes_from_the_previous_checkpoint(tiny, damage: str) -> None:
    cfg = _stopped_run(tiny, "damaged")
    DAMAGES[damage](Path(cfg.out_dir) / "checkpoints" / "step-00000020")
    with pytest.warns(ScalingLabWarning, match="step-00000020 skipped"):
        resumed = run_training(cfg.replace(stop_at_step=None), progress=False)
    straight = run_training(cfg.replace(out_dir=cfg.out_dir + "-straight", stop_at_step=None),
                            progress=False)  # fmt: skip
    assert resumed.status == straight.status == "completed"
    assert resumed.final_val_loss == straight.final_val_loss
    lines = (Path(cfg.out_dir) / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == sorted(set(steps)) == [10, 20, 30, 40]


def test_no_intact_checkpoint_is_a_user_error_not_a_divergence(tiny) -> None:
    cfg = _stopped_run(tiny, "ruined")
    root = Path(cfg.out_dir) / "checkpoints"
    for step in ("step-00000010", "step-00000020"):
        _overwrite_middle(root / step / "model.safetensors")
    before = json.loads((Path(cfg.out_dir) / "summary.json").read_text())["status"]
    with pytest.warns(ScalingLabWarning), pytest.raises(ScalingLabError) as caught:
        run_training(cfg.replace(stop_at_step=None), progress=False)
    message = str(caught.value)
    assert "\n" not in message
    assert "no intact checkpoint" in message
    assert "step-00000010" in message
    after = json.loads((Path(cfg.out_dir) / "summary.json").read_text())["status"]
    assert before == after == "stopped"


def test_a_live_writers_temporary_folder_is_kept_a_dead_ones_removed(tiny) -> None:
    cfg = _stopped_run(tiny, "tmp")
    root = Path(cfg.out_dir) / "checkpoints"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    live_tmp = root / f".tmp-step-00000030-{os.getppid()}"  # the test runner's parent lives
    dead_tmp = root / f".tmp-step-00000030-{gone.stdout.strip()}"
    live_tmp.mkdir()
    dead_tmp.mkdir()
    import torch

    from scalinglab.models.build import build_model

    model = build_model(cfg.shape())
    optimizer = torch.optim.AdamW(model.parameters())
    save_checkpoint(cfg.out_dir, 21, model, optimizer, {"step": 21})
    assert live_tmp.exists()
    assert not dead_tmp.exists()


def test_a_second_process_on_one_run_folder_is_refused(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from scalinglab.train.runlock import run_folder_lock\n"
        "with run_folder_lock(sys.argv[1]):\n"
        "    pass\n"
    )
    with run_folder_lock(tmp_path / "run"):
        child = subprocess.run([sys.executable, "-c", script, str(tmp_path / "run")],
                               capture_output=True, text=True)  # fmt: skip
        assert child.returncode == 1
        assert f"is being trained by process {os.getpid()}" in child.stderr
    again = subprocess.run([sys.executable, "-c", script, str(tmp_path / "run")],
                           capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 0, again.stderr
