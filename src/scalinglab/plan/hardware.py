"""The accelerator catalogue: peak FLOP/s per precision, memory size and bandwidth.

The catalogue ships as ``scalinglab/resources/hardware.toml`` (vendor datasheet figures,
dense, each entry naming its datasheet). A user TOML file in the same layout adds or
replaces entries by key.

>>> gpu = find_gpu("A100")
>>> gpu.key, gpu.peak_flops("bf16"), gpu.memory_bytes
('a100-80gb', 312000000000000.0, 80000000000.0)
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from scalinglab.errors import InputError, ScalingLabError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PRECISIONS = ("bf16", "fp16", "fp32", "fp8")
_REQUIRED = ("name", "memory_gb", "bandwidth_gbps", "source")


@dataclass(frozen=True)
class Gpu:
    """One accelerator. Throughputs in FLOP/s, memory in bytes, bandwidth in bytes/s."""

    key: str
    name: str
    peak: dict[str, float]
    memory_bytes: float
    bandwidth_bytes_per_s: float
    source: str
    aliases: tuple[str, ...] = ()

    def peak_flops(self, precision: str) -> float:
        """Dense peak FLOP/s at ``precision``; an error when the device lacks it."""
        if precision not in PRECISIONS:
            raise ScalingLabError(
                f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}"
            )
        if precision not in self.peak:
            have = ", ".join(p for p in PRECISIONS if p in self.peak)
            raise ScalingLabError(
                f"{self.name} has no {precision} peak in the catalogue; use --precision with "
                f"one of: {have}"
            )
        return self.peak[precision]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parse(table: dict[str, Any], where: str) -> dict[str, Gpu]:
    gpus = table.get("gpu")
    if not isinstance(gpus, dict) or not gpus:
        raise InputError(
            "no [gpu.<key>] tables", fix="describe each accelerator under [gpu.<key>]", file=where
        )
    catalogue = {}
    for key, entry in gpus.items():
        missing = [name for name in _REQUIRED if name not in entry]
        if missing:
            raise InputError(
                f"entry gpu.{key} lacks {', '.join(missing)}",
                fix=f"give {', '.join(_REQUIRED)} and at least one <precision>_tflops",
                file=where,
            )
        peak = {p: float(entry[f"{p}_tflops"]) * 1e12 for p in PRECISIONS if f"{p}_tflops" in entry}
        numbers = [*peak.values(), float(entry["memory_gb"]), float(entry["bandwidth_gbps"])]
        if not peak or not all(math.isfinite(x) and x > 0 for x in numbers):
            raise InputError(
                f"entry gpu.{key} needs positive memory_gb, bandwidth_gbps and at least one "
                "positive <precision>_tflops",
                fix=f"precisions are {', '.join(PRECISIONS)}",
                file=where,
            )
        catalogue[key.lower()] = Gpu(
            key=key.lower(),
            name=str(entry["name"]),
            peak=peak,
            memory_bytes=float(entry["memory_gb"]) * 1e9,
            bandwidth_bytes_per_s=float(entry["bandwidth_gbps"]) * 1e9,
            source=str(entry["source"]),
            aliases=tuple(str(a).lower() for a in entry.get("aliases", [])),
        )
    return catalogue


def load_catalogue(user_file: str | Path | None = None) -> dict[str, Gpu]:
    """The shipped catalogue, with ``user_file``'s entries added or replacing by key."""
    text = resources.files("scalinglab").joinpath("resources", "hardware.toml").read_text("utf-8")
    catalogue = _parse(tomllib.loads(text), "hardware.toml")
    if user_file is not None:
        path = Path(user_file)
        if not path.is_file():
            raise ScalingLabError(f"hardware file {str(path)!r} does not exist")
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise InputError(
                f"invalid TOML ({error})", fix="see docs/plan.md for the layout", file=str(path)
            ) from None
        catalogue.update(_parse(table, str(path)))
    return catalogue


def find_gpu(name: str, catalogue: dict[str, Gpu] | None = None) -> Gpu:
    """The accelerator called ``name`` (key or alias, any case); errors list the known."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    wanted = name.strip().lower()
    for gpu in catalogue.values():
        if wanted == gpu.key or wanted in gpu.aliases:
            return gpu
    known = ", ".join(sorted(catalogue))
    raise ScalingLabError(
        f"unknown GPU {name!r}; known GPUs: {known} (or add one with --hardware-file)"
    )


def match_device_name(device_name: str, catalogue: dict[str, Gpu] | None = None) -> Gpu | None:
    """The catalogue entry for a name as the driver reports it, or ``None``.

    ``torch.cuda.get_device_name`` says e.g. ``"NVIDIA A100-SXM4-80GB"``, ``"NVIDIA H100
    PCIe"`` or ``"Tesla T4"``. An entry matches when the first part of its key (``a100``)
    is a word of the name; among matches, the entry with more key parts in the name wins
    (``80gb``, ``pcie``), and on a tie the first in the catalogue (the common variant).
    """
    catalogue = catalogue if catalogue is not None else load_catalogue()
    lowered = device_name.lower()
    words = set(re.split(r"[^a-z0-9]+", lowered))
    best, best_score = None, 0
    for gpu in catalogue.values():
        family, *variant = gpu.key.split("-")
        if family not in words:
            continue
        score = 1 + sum(part in lowered for part in variant)
        if score > best_score:
            best, best_score = gpu, score
    return best
