"""Checkpoints in safetensors and JSON, written atomically, for exact resume.

A checkpoint is the folder ``DIR/checkpoints/step-NNNNNNNN/`` holding

- ``model.safetensors``: the weights (``safetensors.torch.save_model``, which stores a
  tied embedding once);
- ``optimizer.safetensors``: AdamW's per-parameter tensors (``state.<i>.exp_avg``,
  ``state.<i>.exp_avg_sq``, ``state.<i>.step``) and the torch RNG states (``rng.cpu``,
  ``rng.cuda``);
- ``state.json``: the step, the data position (samples consumed), tokens, the
  optimizer's param groups (hyper-parameters), the divergence monitor, wall time so far,
  and the SHA-256 of each of the two weight files (``checksums``).

A sharded run (FSDP) writes instead ``dcp/`` (each rank's shards of the model and
optimizer through ``torch.distributed.checkpoint``, loadable at any world size),
``rng.safetensors`` (rank 0's RNG states) and ``state.json`` (checksums of every file,
and the world size that wrote it); :func:`load_checkpoint` tells the two apart by the
``dcp/`` folder.

No pickle anywhere, but for DCP's own metadata file ``dcp/.metadata``, which
``torch.distributed.checkpoint`` writes and reads with ``pickle`` (its tensors and other
values are read with ``weights_only``): load sharded checkpoints from trusted folders
only. The folder is written under a temporary name (``.tmp-step-N-PID``,
PID the writer's process), every file fsynced, then renamed into place (an atomic rename
on POSIX), and ``DIR/checkpoints/latest`` is replaced atomically afterwards, so a SIGKILL
at any moment leaves the last good checkpoint intact; a temporary folder is removed by a
later save only once its writer's process is gone.

A checkpoint is verified before it is loaded (state.json readable, checksums equal):
:func:`restore_checkpoint` loads the newest intact one and warns about each newer one it
skips as corrupt or truncated, so a damaged file costs the steps since the previous
checkpoint, never the run; it is never mistaken for a diverged run. Checkpoints written
before checksums existed are loaded unverified.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import (
    get_model_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_state_dict,
)

from scalinglab.errors import ScalingLabError, ScalingLabWarning
from scalinglab.io import atomic_write_text, publish_folder
from scalinglab.processes import process_alive
from scalinglab.train.distributed import DistContext

#: The files whose SHA-256 ``state.json`` records.
#: Param-group keys naming how the optimizer computes, not what it computes.
IMPLEMENTATION_FLAGS = ("fused", "foreach")
CHECKED_FILES = ("model.safetensors", "optimizer.safetensors")
#: The folder of a sharded checkpoint that ``torch.distributed.checkpoint`` writes.
SHARDED_DIR = "dcp"
#: The RNG states of rank 0 in a sharded checkpoint.
RNG_FILE = "rng.safetensors"
_TMP_OWNER = re.compile(r"\.tmp-.*-(\d+)")


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
    _remove_orphaned_tmp(root)
    final = root / step_dir_name(step)
    tmp = root / f".tmp-{step_dir_name(step)}-{os.getpid()}"
    tmp.mkdir()
    save_model(model, str(tmp / "model.safetensors"))
    tensors, groups = _flatten_optimizer(optimizer)
    save_file({**tensors, **_rng_tensors()}, str(tmp / "optimizer.safetensors"))
    checksums = {name: file_sha256(tmp / name) for name in CHECKED_FILES}
    record = {**state, "param_groups": groups, "checksums": checksums}
    (tmp / "state.json").write_text(json.dumps(record, indent=1))
    _publish(tmp, final, keep, keep_steps)
    return final


def save_sharded_checkpoint(
    out_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    ctx: DistContext,
    *,
    keep: int = 2,
    keep_steps: tuple[int, ...] = (),
) -> Path:
    """Write the checkpoint of ``step`` of a sharded (FSDP) run; every rank calls it.

    Each rank writes its shards of the model and optimizer through
    ``torch.distributed.checkpoint`` into ``SHARDED_DIR``; rank 0 adds its RNG states
    (``rng.safetensors``) and ``state.json`` (with the SHA-256 of every file and the
    world size), then publishes the folder atomically as :func:`save_checkpoint` does.
    ``state`` is rank 0's JSON data."""
    root = checkpoint_root(out_dir)
    writer = torch.tensor([os.getpid() if ctx.is_main else 0], dtype=torch.int64)
    tmp = root / f".tmp-{step_dir_name(step)}-{int(ctx.all_sum(writer)[0])}"
    if ctx.is_main:
        root.mkdir(parents=True, exist_ok=True)
        _remove_orphaned_tmp(root)
        (tmp / SHARDED_DIR).mkdir(parents=True)
    ctx.barrier()
    model_state, optimizer_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=tmp / SHARDED_DIR)
    ctx.barrier()
    final = root / step_dir_name(step)
    if ctx.is_main:
        save_file(_rng_tensors(), str(tmp / RNG_FILE))
        names = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        checksums = {name: file_sha256(tmp / name) for name in names}
        record = {**state, "world_size": ctx.world_size, "checksums": checksums}
        (tmp / "state.json").write_text(json.dumps(record, indent=1))
        _publish(tmp, final, keep, keep_steps)
    ctx.barrier()
    return final


def _rng_tensors() -> dict[str, torch.Tensor]:
    """The torch RNG states of this process (CPU, and CUDA once initialised)."""
    tensors = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    return tensors


def _restore_rng(tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["rng.cpu"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])


def _publish(tmp: Path, final: Path, keep: int, keep_steps: tuple[int, ...]) -> None:
    """Fsync the finished folder ``tmp``, rename it to ``final``, point ``latest`` at it,
    and prune older checkpoints to the newest ``keep`` plus ``keep_steps``."""
    root = final.parent
    publish_folder(tmp, final)
    atomic_write_text(root / "latest", final.name, sync_dir=True)
    _prune(root, keep, {step_dir_name(s) for s in keep_steps} | {final.name})


def _remove_orphaned_tmp(root: Path) -> None:
    """Remove temporary checkpoint folders whose writing process is gone (a save killed
    before its rename); one still being written by a live process is left alone."""
    for tmp in root.glob(".tmp-*"):
        owner = _TMP_OWNER.fullmatch(tmp.name)
        pid = int(owner.group(1)) if owner else 0
        if pid == os.getpid() or not process_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def checkpoints_newest_first(out_dir: str | Path) -> list[Path]:
    """The run's complete checkpoint folders (those holding a state.json), newest first;
    the one ``latest`` points to comes first."""
    root = checkpoint_root(out_dir)
    complete = sorted((p for p in root.glob("step-*") if (p / "state.json").exists()), reverse=True)
    pointer = root / "latest"
    if pointer.exists():
        named = root / pointer.read_text().strip()
        if named in complete:
            complete.remove(named)
            complete.insert(0, named)
    return complete


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder of a run (not verified), or None."""
    folders = checkpoints_newest_first(out_dir)
    return folders[0] if folders else None


def checkpoint_problem(folder: Path) -> str | None:
    """Why the checkpoint ``folder`` cannot be trusted (unreadable state.json, a missing
    file, a checksum that differs), or ``None`` when it is intact."""
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"state.json is unreadable ({type(error).__name__}: {error})"
    if not isinstance(state, dict):
        return "state.json holds no JSON object"
    for name, expected in state.get("checksums", {}).items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if file_sha256(path) != expected:
            return f"{name} does not match its SHA-256 in state.json (corrupt or truncated)"
    return None


def restore_checkpoint(
    out_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None
) -> tuple[Path, dict[str, Any]] | None:
    """Load the newest intact checkpoint of the run in ``out_dir``: ``(folder, state)``,
    or ``None`` when the run has no checkpoint.

    Newer checkpoints that are corrupt or truncated are skipped with a
    :class:`~scalinglab.errors.ScalingLabWarning` each; when none is intact the run
    cannot continue, a :class:`ScalingLabError` naming each problem."""
    folders = checkpoints_newest_first(out_dir)
    problems = []
    for folder in folders:
        problem = checkpoint_problem(folder)
        if problem is None:
            try:
                return folder, load_checkpoint(folder, model, optimizer)
            except (SafetensorError, OSError, ValueError, KeyError, CheckpointException) as error:
                problem = f"it does not load ({type(error).__name__}: {error})"
        problems.append(f"{folder.name}: {problem}")
        warnings.warn(
            f"checkpoint {folder} skipped: {problem}; trying the previous one",
            ScalingLabWarning,
            stacklevel=2,
        )
    if problems:
        found = " ".join("; ".join(problems).split())  # one line, whatever the errors say
        raise ScalingLabError(
            f"{out_dir}: no intact checkpoint to resume from ({found}); "
            f"remove {checkpoint_root(out_dir)} to train the run from the start"
        )
    return None


def load_checkpoint(
    folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None
) -> dict[str, Any]:
    """Restore weights, optimizer and RNG from ``folder``; return its JSON state. A
    sharded checkpoint (FSDP, :func:`save_sharded_checkpoint`) is loaded by every rank
    into the shards of the current world size, whatever the world size that wrote it."""
    folder = Path(folder)
    if (folder / SHARDED_DIR).is_dir():
        return _load_sharded_checkpoint(folder, model, optimizer)
    missing, unexpected = load_model(model, str(folder / "model.safetensors"), strict=False)
    if unexpected or [m for m in missing if not _is_tied(model, m)]:
        raise ScalingLabError(
            f"checkpoint {folder} does not match the model (missing {missing}, "
            f"unexpected {unexpected}); resume with the shape the run was started with"
        )
    state = json.loads((folder / "state.json").read_text())
    tensors = load_file(str(folder / "optimizer.safetensors"))
    if optimizer is not None:
        _load_optimizer(optimizer, _unflatten_optimizer(tensors, state["param_groups"]))
    _restore_rng(tensors)
    return state


def _load_sharded_checkpoint(
    folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None
) -> dict[str, Any]:
    """Load a sharded checkpoint into ``model`` (and ``optimizer``): DCP reads each
    rank's part of every tensor, resharding when the world size differs."""
    state = json.loads((folder / "state.json").read_text())
    if optimizer is None:
        target: dict[str, Any] = {"model": get_model_state_dict(model)}
        dcp.load(target, checkpoint_id=folder / SHARDED_DIR)
        set_model_state_dict(model, target["model"])
    else:
        model_state, optimizer_state = get_state_dict(model, optimizer)
        target = {"model": model_state, "optimizer": optimizer_state}
        dcp.load(target, checkpoint_id=folder / SHARDED_DIR)
        set_state_dict(
            model, optimizer,
            model_state_dict=target["model"], optim_state_dict=target["optimizer"],
        )  # fmt: skip
    _restore_rng(load_file(str(folder / RNG_FILE)))
    return state


def _load_optimizer(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> None:
    """Load ``state_dict`` but keep the optimizer's own implementation flags (``fused``,
    ``foreach``): a checkpoint written on CPU and resumed on a GPU, or back, would
    otherwise carry the other device's implementation over (fused AdamW on CPU)."""
    kept = [{k: g[k] for k in IMPLEMENTATION_FLAGS if k in g} for g in optimizer.param_groups]
    optimizer.load_state_dict(state_dict)
    for group, flags in zip(optimizer.param_groups, kept, strict=True):
        group.update(flags)


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
