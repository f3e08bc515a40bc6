"""FSDP2 (``--fsdp``): a sharded run follows the unsharded single-process run, on one
process and on two (torchrun, gloo), writes sharded checkpoints that resume at another
world size, and exports a whole Hugging Face model.

Tolerances: a one-process sharded run does the same arithmetic as the plain run (FSDP over
one rank gathers and reduces nothing), so it agrees to 1e-6 relative (exactly, in
practice). Over two ranks the gradient reduce-scatter adds the two halves of the batch in
another order than one backward pass: fp32 rounding of about 1e-7 relative per step,
which stays far below the 1e-4 of the acceptance (the DDP test's tolerance), while a
wrong batch split, a gradient summed instead of averaged, or a shard lost on resume moves
the loss by 1e-2 or more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scalinglab.data.pipeline import prepare_data
from scalinglab.errors import ScalingLabError
from scalinglab.train import TrainConfig, run_training
from scalinglab.train.checkpoint import latest_checkpoint
from scalinglab.train.distributed import DistContext
from scalinglab.train.step import validation_sums

CHILD = """
import json, sys
import torch
import torch.distributed as dist
torch.set_num_threads(1)
from scalinglab.train import TrainConfig, run_training
dist.init_process_group("gloo")
for config in json.loads(sys.argv[1]):
    run_training(TrainConfig.from_dict(config), progress=False)
dist.destroy_process_group()
"""


def curve(out_dir: str) -> list[tuple[int, float, float]]:
    lines = (Path(out_dir) / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["train_loss"], r["val_loss"]) for r in map(json.loads, lines)]


def summary(out_dir: str) -> dict:
    return json.loads((Path(out_dir) / "summary.json").read_text())


def test_one_process_fsdp_matches_the_unsharded_run_and_checkpoints_through_dcp(tiny) -> None:
    plain = run_training(tiny("plain", micro_batch_size=4), progress=False)
    sharded = run_training(
        tiny("sharded", micro_batch_size=4, fsdp=True, activation_checkpointing=True),
        progress=False,
    )
    assert sharded.status == "completed"
    assert sharded.world_size == 1
    assert sharded.final_train_loss == pytest.approx(plain.final_train_loss, rel=1e-6)
    assert sharded.final_val_loss == pytest.approx(plain.final_val_loss, rel=1e-6)
    folder = latest_checkpoint(sharded.out_dir)
    assert folder is not None
    assert (folder / "dcp" / ".metadata").is_file()
    assert not (folder / "model.safetensors").exists()
    state = json.loads((folder / "state.json").read_text())
    assert state["world_size"] == 1
    assert "dcp/.metadata" in state["checksums"]


def test_a_sharded_run_stopped_and_resumed_ends_where_a_straight_run_ends(tiny) -> None:
    straight = run_training(tiny("straight"), progress=False)
    stopped = run_training(tiny("resumed", fsdp=True, stop_at_step=17), progress=False)
    assert stopped.status == "stopped"
    resumed = run_training(tiny("resumed", fsdp=True), progress=False)
    assert resumed.status == "completed"
    assert resumed.final_val_loss == pytest.approx(straight.final_val_loss, rel=1e-6)
    assert [step for step, _, _ in curve(resumed.out_dir)] == [10, 17, 20, 30, 40]


def test_resuming_with_other_sharding_is_refused_in_one_line(tiny) -> None:
    run_training(tiny("sharded", fsdp=True, stop_at_step=5), progress=False)
    with pytest.raises(ScalingLabError, match="trained with --fsdp; resume it with --fsdp"):
        run_training(tiny("sharded"), progress=False)
    run_training(tiny("plain", stop_at_step=5), progress=False)
    with pytest.raises(ScalingLabError, match="with no --fsdp"):
        run_training(tiny("plain", fsdp=True), progress=False)


@pytest.mark.slow
def test_two_process_fsdp_matches_one_process_and_resumes_across_world_sizes(
    tiny, tmp_path: Path
) -> None:
    single = run_training(tiny("single", export_hf=True), progress=False)
    one_to_two = tiny("one-to-two", fsdp=True)
    run_training(one_to_two.replace(stop_at_step=20), progress=False)  # 1 rank to step 20
    two = tiny("two", fsdp=True, export_hf=True)
    two_to_one = tiny("two-to-one", fsdp=True)
    configs = [two, one_to_two, two_to_one.replace(stop_at_step=20)]
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(script), json.dumps([c.to_dict() for c in configs])],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    resumed_on_one = run_training(two_to_one, progress=False)  # 2 ranks' checkpoint, 1 rank

    assert summary(two.out_dir)["world_size"] == 2
    assert summary(two.out_dir)["tokens"] == single.tokens
    sharded_curve, one_curve = curve(two.out_dir), curve(single.out_dir)
    assert [s for s, _, _ in sharded_curve] == [s for s, _, _ in one_curve] == [10, 20, 30, 40]
    for (_, train_a, val_a), (_, train_b, val_b) in zip(sharded_curve, one_curve, strict=True):
        assert train_a == pytest.approx(train_b, rel=1e-4)
        assert val_a == pytest.approx(val_b, rel=1e-4)
    assert summary(two.out_dir)["final_val_loss"] == pytest.approx(single.final_val_loss, rel=1e-4)

    for resumed in (summary(one_to_two.out_dir), resumed_on_one.to_dict()):
        assert resumed["status"] == "completed"
        assert resumed["final_val_loss"] == pytest.approx(single.final_val_loss, rel=1e-4)
    assert summary(one_to_two.out_dir)["world_size"] == 2
    assert resumed_on_one.world_size == 1
    assert [s for s, _, _ in curve(two_to_one.out_dir)] == [10, 20, 30, 40]

    assert exported_val_loss(two) == pytest.approx(summary(two.out_dir)["final_val_loss"], rel=1e-4)


def exported_val_loss(config: TrainConfig) -> float:
    """The validation loss of the run's DIR/hf as ``transformers`` loads it (nats/token),
    computed as the run computes its own (same samples, same autocast)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(Path(config.out_dir) / "hf")
    data = prepare_data(
        family=config.family, corpus=config.corpus, vocab_size=config.vocab_size,
        n_ctx=config.n_ctx, seed=config.seed, nsp=False, unique_tokens=None,
        val_fraction=config.val_fraction, val_tokens=config.val_tokens,
        cache_dir=config.cache_dir,
    )  # fmt: skip
    total, count = validation_sums(
        model, data, DistContext(), micro_batch_size=8, device=torch.device("cpu"),
        bf16=summary(config.out_dir)["bf16"],
    )  # fmt: skip
    return total / count


def test_cli_fsdp_without_torchrun_trains_on_one_rank(
    small_corpus: str, cache_dir: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from scalinglab.cli.app import app

    out = tmp_path / "run"
    args = ["train", "--n-layer", "1", "--d-model", "32", "--n-head", "2", "--ctx", "32",
            "--vocab", "512", "--batch-size", "8", "--tokens", "2560", "--device", "cpu",
            "--peak-flops", "1e11", "--corpus", small_corpus, "--cache-dir", cache_dir,
            "--out", str(out), "--fsdp", "--activation-checkpointing", "--quiet",
            "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    done = json.loads(result.output)
    assert (done["status"], done["world_size"]) == ("completed", 1)
    assert done["config"]["fsdp"]
    assert done["config"]["activation_checkpointing"]
    assert (latest_checkpoint(out) / "dcp").is_dir()  # type: ignore[operator]
    assert (out / "hf" / "config.json").is_file()
