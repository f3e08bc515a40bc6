"""Checkpoints in safetensors and JSON, written atomically, for exact resume.

A checkpoint is the folder ``DIR/checkpoints/step-NNNNNNNN/`` holding

- ``model.safetensors``: the weights (``safetensors.torch.save_model``, which stores a
  tied embedding once);
- ``optimizer.safetensors``: AdamW's per-parameter tensors (``state.<i>.exp_avg``,
  ``state.<i>.exp_avg_sq``, ``state.<i>.step``) and the torch RNG states (``rng.cpu``,
  ``rng.cuda``);
- ``state.json``: the step, the data position (samples consumed), tokens, the
  optimizer's param groups (hyper-parameters), the divergence monitor, wall time so far.

No pickle anywhere. The folder is written under a temporary name, every file fsynced,
then renamed into place (an atomic rename on POSIX), and ``DIR/checkpoints/latest`` is
replaced atomically afterwards, so a SIGKILL at any moment leaves the last good checkpoint
intact; a half-written temporary folder is ignored and removed on the next save.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from scalinglab.errors import ScalingLabError


def checkpoint_root(out_dir: str | Path) -> Path:
    return Path(out_dir) / "checkpoints"


def step_dir_name(step: int) -> str:
    return f"step-{step:08d}"


def save_checkpoint(
    out_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    *,
    keep: int = 2,
    keep_steps: tuple[int, ...] = (),
) -> Path:
    """Write the checkpoint of ``step`` atomically; keep the newest ``keep`` plus
    ``keep_steps``. ``state`` is JSON data (step, data position, monitor, ...)."""
    root = checkpoint_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    final = root / step_dir_name(step)
    tmp = root / f".tmp-{step_dir_name(step)}-{os.getpid()}"
    tmp.mkdir()
    save_model(model, str(tmp / "model.safetensors"))
    tensors, groups = _flatten_optimizer(optimizer)
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    (tmp / "state.json").write_text(json.dumps({**state, "param_groups": groups}, indent=1))
    for file in tmp.iterdir():
        _fsync(file)
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync(root)
    _write_atomic(root / "latest", final.name)
    _prune(root, keep, {step_dir_name(s) for s in keep_steps} | {final.name})
    return final


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or None."""
    root = checkpoint_root(out_dir)
    pointer = root / "latest"
    if pointer.exists():
        candidate = root / pointer.read_text().strip()
        if (candidate / "state.json").exists():
            return candidate
    complete = sorted(p for p in root.glob("step-*") if (p / "state.json").exists())
    return complete[-1] if complete else None


def load_checkpoint(
    folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None
) -> dict[str, Any]:
    """Restore weights, optimizer and RNG from ``folder``; return its JSON state."""
    folder = Path(folder)
    missing, unexpected = load_model(model, str(folder / "model.safetensors"), strict=False)
    if unexpected or [m for m in missing if not _is_tied(model, m)]:
        raise ScalingLabError(
            f"checkpoint {folder} does not match the model (missing {missing}, "
            f"unexpected {unexpected}); resume with the shape the run was started with"
        )
    state = json.loads((folder / "state.json").read_text())
    tensors = load_file(str(folder / "optimizer.safetensors"))
    if optimizer is not None:
        optimizer.load_state_dict(_unflatten_optimizer(tensors, state["param_groups"]))
    torch.set_rng_state(tensors["rng.cpu"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return state


def _is_tied(model: torch.nn.Module, name: str) -> bool:
    """save_model drops the second name of a shared tensor; it is restored by the tie."""
    params = dict(model.named_parameters(remove_duplicate=False))
    tensor = params.get(name)
    return tensor is not None and sum(p is tensor for p in params.values()) > 1


def _flatten_optimizer(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for index, slots in state_dict["state"].items():
        for name, value in slots.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"state.{index}.{name}"] = tensor.detach().cpu().contiguous()
    return tensors, state_dict["param_groups"]


def _unflatten_optimizer(
    tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]
) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        if key.startswith("state."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = tensor
    return {"state": state, "param_groups": groups}


def _prune(root: Path, keep: int, protected: set[str]) -> None:
    steps = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in steps[:-keep] if keep > 0 else steps:
        if old.name not in protected:
            shutil.rmtree(old, ignore_errors=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
