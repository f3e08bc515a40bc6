"""The GPU paths of training, exercised on CPU: the AdamW implementation chosen per
device, TF32, the background batch prefetch (same batches, exact resume, pinned memory
on CUDA), and ``torch.compile``."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from scalinglab.train import run_training
from scalinglab.train.checkpoint import load_checkpoint, save_checkpoint
from scalinglab.train.optim import build_optimizer, implementation_kwargs
from scalinglab.train.precision import enable_tf32
from scalinglab.train.prefetch import BatchPrefetcher, host_tensors


def _losses(out_dir: str) -> list[tuple[float, float]]:
    lines = (Path(out_dir) / "metrics.jsonl").read_text().splitlines()
    return [(json.loads(x)["train_loss"], json.loads(x)["val_loss"]) for x in lines]


# ---- AdamW implementation ------------------------------------------------------------
@pytest.mark.parametrize(
    ("devices", "fused"),
    [({"cuda"}, True), ({"cpu"}, False), ({"cpu", "cuda"}, False), ({"meta"}, False)],
)
def test_fused_adamw_only_when_every_parameter_is_on_cuda(devices: set[str], fused: bool) -> None:
    assert implementation_kwargs(devices) == {"fused": fused, "foreach": not fused}


def test_cpu_optimizer_keeps_the_foreach_path() -> None:
    optimizer = build_optimizer(
        nn.Linear(4, 4), lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8
    )
    assert all(g["foreach"] is True and not g["fused"] for g in optimizer.param_groups)


def test_resume_keeps_this_devices_implementation(tmp_path: Path) -> None:
    """A checkpoint's param groups carry the writer's flags; the reader keeps its own
    (a run written with fused AdamW on a GPU resumes with foreach on CPU)."""
    model = nn.Linear(4, 4)
    writer = build_optimizer(model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8)
    model(torch.ones(2, 4)).sum().backward()
    writer.step()
    for group in writer.param_groups:
        group.update(fused=True, foreach=False)  # as written on a GPU
    save_checkpoint(tmp_path, 1, model, writer, {"step": 1})
    reader = build_optimizer(model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8)
    load_checkpoint(tmp_path / "checkpoints" / "step-00000001", model, reader)
    assert all(g["foreach"] is True and g["fused"] is False for g in reader.param_groups)
    assert reader.state_dict()["state"][0]["step"] == 1  # the state itself was loaded


# ---- TF32 ----------------------------------------------------------------------------
def test_tf32_on_cuda_only() -> None:
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        assert enable_tf32(torch.device("cpu")) is False
        assert not torch.backends.cuda.matmul.allow_tf32
        assert not torch.backends.cudnn.allow_tf32
        assert enable_tf32(torch.device("cuda", 0)) is True
        assert torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_summary_states_tf32_and_bf16(tiny) -> None:
    summary = run_training(tiny("flags", tokens=8 * 32 * 4, eval_every=4), progress=False)
    assert summary.tf32 is False
    stored = json.loads((Path(summary.out_dir) / "summary.json").read_text())
    assert stored["tf32"] is False
    assert "bf16" in stored


# ---- prefetch ------------------------------------------------------------------------
def _build(step: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(step)
    return [{"input_ids": rng.integers(0, 100, (2, 5)), "labels": rng.integers(0, 100, (2, 5))}]


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_prefetched_batches_equal_the_synchronous_ones(depth: int) -> None:
    with BatchPrefetcher(_build, range(3, 20), depth=depth) as batches:
        for step in range(3, 20):
            got = batches.get(step)
            want = _build(step)
            assert len(got) == len(want)
            for a, b in zip(got, want, strict=True):
                assert a.keys() == b.keys()
                for key in a:
                    assert torch.equal(a[key], torch.from_numpy(b[key]))


def test_background_thread_builds_ahead_and_stops_on_close() -> None:
    built: list[int] = []
    ahead = threading.Event()

    def build(step: int) -> list[dict[str, np.ndarray]]:
        built.append(step)
        if step == 2:
            ahead.set()
        return _build(step)

    prefetcher = BatchPrefetcher(build, range(100), depth=2)
    assert ahead.wait(5), "steps were not built ahead of the first get"
    prefetcher.get(0)
    prefetcher.close()
    assert prefetcher._thread is not None
    assert not prefetcher._thread.is_alive()
    assert max(built) < 10  # bounded by the queue, not the whole range


def test_a_build_error_reaches_the_training_thread() -> None:
    def build(step: int) -> list[dict[str, np.ndarray]]:
        if step == 1:
            raise OSError("disk gone")
        return _build(step)

    with BatchPrefetcher(build, range(5), depth=2) as batches:
        batches.get(0)
        with pytest.raises(OSError, match="disk gone"):
            batches.get(1)


def test_steps_out_of_order_are_refused() -> None:
    with BatchPrefetcher(_build, range(5), depth=0) as batches, pytest.raises(RuntimeError):
        batches.get(1)


def test_pinned_memory_when_the_batches_go_to_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """On CUDA the tensors are pinned (``pin_memory`` needs a GPU, so it is recorded here)."""
    pinned: list[torch.Size] = []

    def fake_pin(self: torch.Tensor) -> torch.Tensor:
        pinned.append(self.shape)
        return self.clone()

    monkeypatch.setattr(torch.Tensor, "pin_memory", fake_pin)
    batch = {"input_ids": np.arange(6).reshape(2, 3)}
    assert pinned == []
    assert torch.equal(host_tensors(batch, pin=False)["input_ids"], torch.arange(6).reshape(2, 3))
    with BatchPrefetcher(lambda step: [batch], range(2), pin=True, depth=1) as batches:
        out = batches.get(0)
    assert pinned
    assert pinned[0] == (2, 3)
    assert torch.equal(out[0]["input_ids"], torch.arange(6).reshape(2, 3))


def test_prefetch_changes_no_number(tiny) -> None:
    on = run_training(tiny("on", prefetch=True), progress=False)
    off = run_training(tiny("off", prefetch=False), progress=False)
    assert _losses(on.out_dir) == _losses(off.out_dir)  # bit-identical
    assert on.final_val_loss == off.final_val_loss


def test_resume_with_prefetch_is_exact(tiny) -> None:
    """The checkpoint holds the steps trained, not those built ahead: a run stopped at
    step 20 (its thread had built 21 and 22) and resumed equals a straight run."""
    cfg = tiny("resumed", prefetch=True, checkpoint_every=20)
    run_training(cfg.replace(stop_at_step=20), progress=False)
    resumed = run_training(cfg, progress=False)
    straight = run_training(tiny("straight", prefetch=False), progress=False)
    assert resumed.steps == straight.steps == 40
    assert _losses(resumed.out_dir) == _losses(straight.out_dir)


# ---- torch.compile -------------------------------------------------------------------
@pytest.mark.slow
def test_compiled_run_trains_like_eager(tiny) -> None:
    """``compile=True`` trains through torch.compile's generated CPU kernels (inductor,
    built with the machine's C compiler) and follows the eager loss curve up to kernel
    rounding."""
    from torch._dynamo.utils import counters

    eager = run_training(tiny("eager", tokens=8 * 32 * 20), progress=False)
    counters.clear()
    compiled = run_training(tiny("compiled", tokens=8 * 32 * 20, compile=True), progress=False)
    assert counters["stats"]["unique_graphs"] >= 1  # dynamo captured and compiled the model
    assert compiled.status == "completed"
    assert compiled.config["compile"] is True
    for (train_a, val_a), (train_b, val_b) in zip(
        _losses(compiled.out_dir), _losses(eager.out_dir), strict=True
    ):
        assert train_a == pytest.approx(train_b, rel=1e-3)
        assert val_a == pytest.approx(val_b, rel=1e-3)
