"""Pretrained runs as fine-tuning rungs: a ``scalinglab train`` folder and what it cost.

A run folder written by ``scalinglab train`` (or by a sweep, under
``<registry folder>/runs/<sweep>/<run id>/``) holds ``summary.json`` (parameters,
tokens, FLOPs, seconds) and ``hf/``, the model as a Hugging Face folder with its
tokenizer. :func:`find_pretrained_runs` turns run folders, or folders of run folders
(a sweep's runs root), into :class:`PretrainedRung` objects: the ``hf/`` folder is the
model spec that ``finetune-sweep`` fine-tunes, and :meth:`PretrainedRung.columns` are
the pretraining columns its rows carry, so that fine-tuned scores can be read against
pretraining compute:

- ``pretrain_run``: the run folder's name (its run id in a sweep);
- ``pretrain_flops``: training compute, FLOPs counted exactly (``summary.flops``);
- ``pretrain_tokens``: training tokens seen, repeats included (``summary.tokens``);
- ``pretrain_seconds``: wall seconds of the training steps (``summary.train_seconds``,
  without evaluations and start-up);
- ``pretrain_n_params_nonembed``: the pretrained model's non-embedding parameters
  (Kaplan's N, as the sweep designs size models);
- ``pretrain_val_loss``: its final held-out loss (masked-LM and NSP, nats per token).

Only finished runs of a family that builds sequence classifiers are rungs: a run that
diverged, failed or was stopped is left out with a :class:`PretrainedRunWarning` (never
fine-tuned as if it were complete); a run folder without ``hf/`` is an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError, ScalingLabWarning

PRETRAIN_COLUMNS = (
    "pretrain_run",
    "pretrain_flops",
    "pretrain_tokens",
    "pretrain_seconds",
    "pretrain_n_params_nonembed",
    "pretrain_val_loss",
)


class PretrainedRunWarning(ScalingLabWarning):
    """A pretrained run was left out of the ladder (not completed); the CLI prints it."""


@dataclass(frozen=True)
class PretrainedRung:
    """One pretrained run: its folder, its ``hf/`` model spec and its pretraining cost.

    Units: ``flops`` in FLOPs (exact count), ``tokens`` in tokens, ``seconds`` in wall
    seconds of training steps, ``val_loss`` in nats per token.
    """

    run_dir: str
    model: str
    run_id: str
    family: str
    n_params_nonembed: int
    flops: float
    tokens: int
    seconds: float
    val_loss: float | None

    def columns(self) -> dict[str, Any]:
        """The pretraining columns (:data:`PRETRAIN_COLUMNS`) of this rung's rows."""
        return {
            "pretrain_run": self.run_id,
            "pretrain_flops": self.flops,
            "pretrain_tokens": self.tokens,
            "pretrain_seconds": self.seconds,
            "pretrain_n_params_nonembed": self.n_params_nonembed,
            "pretrain_val_loss": self.val_loss,
        }


def find_pretrained_runs(paths: Sequence[str]) -> list[PretrainedRung]:
    """The completed pretrained runs under ``paths``, smallest pretraining compute first.

    Each path is a run folder (it holds ``summary.json``) or a folder whose immediate
    subfolders are run folders (a sweep's ``runs/<sweep>/``). A path that holds neither
    is an error; runs that did not complete are left out with a warning.
    """
    rungs: list[PretrainedRung] = []
    for path in paths:
        for run_dir in _run_dirs(Path(path).expanduser()):
            rung = read_pretrained_run(run_dir)
            if rung is not None:
                rungs.append(rung)
    unique = {rung.model: rung for rung in rungs}  # a folder given twice is one rung
    return sorted(unique.values(), key=lambda r: (r.flops, r.run_id))


def read_pretrained_run(run_dir: str | Path) -> PretrainedRung | None:
    """The rung of one run folder, or ``None`` (with a warning) when it did not complete."""
    from scalinglab.models.families import get_family

    folder = Path(run_dir)
    summary = _read_summary(folder / "summary.json")
    status = summary.get("status")
    if status != "completed":
        reason = summary.get("reason") or "no reason recorded"
        warnings.warn(
            f"pretrained run {folder} is {status} ({reason}); left out of the ladder",
            PretrainedRunWarning,
            stacklevel=2,
        )
        return None
    family = str(summary.get("family", ""))
    if not get_family(family).classifier:
        raise ScalingLabError(
            f"pretrained run {folder} is a {family} model, which scalinglab does not build as "
            "a sequence classifier; give runs of an encoder family (e.g. --family bert)"
        )
    hf = folder / "hf"
    if not (hf / "config.json").is_file() or not (hf / "model.safetensors").is_file():
        raise ScalingLabError(
            f"pretrained run {folder} has no Hugging Face export in hf/ (config.json and "
            "model.safetensors); train it with export_hf on (the default)"
        )
    try:
        return PretrainedRung(
            run_dir=str(folder),
            model=str(hf),
            run_id=folder.name,
            family=family,
            n_params_nonembed=int(summary["n_params_nonembed"]),
            flops=float(summary["flops"]),
            tokens=int(summary["tokens"]),
            seconds=float(summary["train_seconds"]),
            val_loss=_optional_float(summary.get("final_val_loss")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ScalingLabError(
            f"{folder / 'summary.json'} lacks a usable {error} (n_params_nonembed, flops, "
            "tokens and train_seconds are needed); is it a scalinglab train summary?"
        ) from error


def _run_dirs(path: Path) -> list[Path]:
    """``path`` itself when it is a run folder, else its subfolders that are run folders."""
    if (path / "summary.json").is_file():
        return [path]
    if not path.is_dir():
        raise ScalingLabError(f"pretrained runs: {path} is not a folder")
    found = sorted(child for child in path.iterdir() if (child / "summary.json").is_file())
    if not found:
        raise ScalingLabError(
            f"pretrained runs: no run folder (with summary.json) in {path}; give a folder "
            "written by `scalinglab train` or a sweep's runs/<sweep>/ folder"
        )
    return found


def _read_summary(path: Path) -> dict[str, Any]:
    from scalinglab.io import load_json

    data = load_json(path, what="run summary", fix="give a folder written by `scalinglab train`")
    if not isinstance(data, dict):
        raise ScalingLabError(f"{path} is not a JSON object; is it a scalinglab train summary?")
    return data


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
