"""``scalinglab train`` under faults: SIGKILLed again and again (also in the middle of a
checkpoint write) it ends exactly like an uninterrupted run; a second process on the same
run folder is refused; a full disk is one line naming the path and the space left."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scalinglab.errors import DiskFullError
from scalinglab.train import TrainConfig, run_training
from scalinglab.train.checkpoint import latest_checkpoint

KILLS = 5
STEPS = 120


def _train(env: dict[str, str], args: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "scalinglab", "train", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _step(out: Path) -> int:
    folder = latest_checkpoint(out)
    return int(folder.name.split("-")[1]) if folder else 0


def _kill_at_a_random_moment(child: subprocess.Popen, out: Path, rng: random.Random) -> bool:
    """SIGKILL ``child`` once it has trained past its resumed step: at a random moment,
    or (every other kill) as soon as a checkpoint is being written. Whether a temporary
    checkpoint folder was being written at the kill."""
    start = _step(out)
    deadline = time.monotonic() + 120
    while _step(out) <= start:
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    mid_write = rng.random() < 0.5
    if not mid_write:
        time.sleep(rng.uniform(0.0, 0.3))
    root = out / "checkpoints"
    while mid_write and child.poll() is None and not any(root.glob(".tmp-*")):
        pass  # spin: a checkpoint write lasts milliseconds
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    return any(root.glob(".tmp-*"))


@pytest.mark.slow
def test_sigkill_again_and_again_ends_like_an_uninterrupted_run(env, tiny_train, tmp_path):
    rng = random.Random(11)
    out = tmp_path / "killed"
    args = [*tiny_train, "--tokens", str(8 * 32 * STEPS), "--eval-every", "10", "--json"]
    kills_mid_write = 0
    for kill in range(KILLS):
        resume = ["--resume"] if kill else []
        child = _train(env, [*args, "--out", str(out), *resume])
        kills_mid_write += _kill_at_a_random_moment(child, out, rng)
        assert child.returncode == -signal.SIGKILL
    assert 0 < _step(out) < STEPS
    resumed = subprocess.run(
        [sys.executable, "-m", "scalinglab", "train", *args, "--out", str(out), "--resume"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    straight = subprocess.run(
        [sys.executable, "-m", "scalinglab", "train", *args, "--out", str(tmp_path / "straight")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert straight.returncode == 0, straight.stderr
    first, second = json.loads(resumed.stdout), json.loads(straight.stdout)
    assert first["steps"] == second["steps"] == STEPS
    assert first["final_val_loss"] == second["final_val_loss"]
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(10, STEPS + 1, 10))
    assert not list((out / "checkpoints").glob(".tmp-*"))  # the dead writers' folders went
    print(f"{KILLS} kills, {kills_mid_write} during a checkpoint write; "
          f"val loss {first['final_val_loss']!r} = {second['final_val_loss']!r}")  # fmt: skip


@pytest.mark.slow
def test_a_second_train_on_one_folder_is_refused(env, tiny_train, tmp_path):
    out = tmp_path / "run"
    # Far more steps than the test lets it train (it is killed below): 400 steps ended on
    # an idle machine before the second process had started. Its first checkpoint comes
    # at step 4,000 (a tenth of the run).
    args = [*tiny_train, "--tokens", str(8 * 32 * 40_000), "--out", str(out)]
    first = _train(env, args)
    try:
        deadline = time.monotonic() + 300
        while _step(out) == 0:
            assert first.poll() is None, first.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = subprocess.run(
            [sys.executable, "-m", "scalinglab", "train", *args, "--resume"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert first.poll() is None, "the first run ended before the second started"
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"is being trained by process {first.pid}" in lines[0]


def test_disk_full_while_writing_a_checkpoint_is_a_disk_full_error(
    monkeypatch, corpus, cache, tmp_path
):
    """ENOSPC simulated at the write layer (safetensors' own error text)."""

    def full(*args, **kwargs):
        raise RuntimeError("Error while serializing: I/O error: No space left (os error 28)")

    monkeypatch.setattr("scalinglab.train.checkpoint.save_file", full)
    cfg = TrainConfig(out_dir=str(tmp_path / "run"), n_layer=1, d_model=32, n_head=2, n_ctx=32,
                      vocab_size=384, tokens=8 * 32 * 20, batch_size=8, corpus=corpus,
                      val_tokens=1024, threads=1, peak_flops=1e11, cache_dir=cache,
                      export_hf=False, device="cpu")  # fmt: skip
    with pytest.raises(DiskFullError, match=str(tmp_path / "run")):
        run_training(cfg, progress=False)
    assert not (tmp_path / "run" / "summary.json").exists()


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 320 KiB tmpfs mounted for the test (root only), unmounted after."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    folder = tmp_path / "tmpfs"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(folder)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True, check=False)


@pytest.mark.slow
def test_a_full_disk_is_one_line_naming_the_path_and_free_space(cli, tiny_train, small_tmpfs):
    out = small_tmpfs / "run"
    result = cli("train", *tiny_train, "--d-model", "64", "--tokens", "20480", "--out", str(out))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(out) in lines[0]
    assert "no space left" in lines[0]
    assert " free there" in lines[0]
