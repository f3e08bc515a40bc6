"""Training time and cost from FLOPs, a device's peak and the model FLOPs utilisation.

MFU (Chowdhery et al. 2022, PaLM, Appendix B) is achieved model FLOP/s over the
hardware's peak. Here the model FLOPs are the law's ``6 N D`` (the count published runs
are quoted in), so a calibration from a run and a plan with it use the same convention:
``GPU-seconds = 6 N D / (MFU * peak)``.

>>> run = PUBLIC_RUNS["llama2-70b"]
>>> round(mfu_from_run(6 * run.n_params * run.tokens, run.gpu_hours * 3600, 312e12), 3)
0.435
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scalinglab.errors import InputError, ScalingLabError
from scalinglab.io import load_json
from scalinglab.plan.figure import Figure
from scalinglab.plan.hardware import Gpu, find_gpu

DEFAULT_MFU = 0.4
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class PublicRun:
    """A published training run: size, tokens, GPU-hours on a catalogue device."""

    name: str
    n_params: float
    tokens: float
    gpu_hours: float
    gpu: str
    precision: str
    citation: str


PUBLIC_RUNS: dict[str, PublicRun] = {
    "llama2-70b": PublicRun(
        name="llama2-70b",
        n_params=70e9,
        tokens=2e12,
        gpu_hours=1_720_320,
        gpu="a100-80gb",
        precision="bf16",
        citation="Touvron et al. 2023, Llama 2, Table 2: 70B, 2.0T tokens, 1,720,320 "
        "A100-80GB GPU-hours",
    ),
}


@dataclass(frozen=True)
class Calibration:
    """An MFU with its ``source`` (assumed, user, calibrated) and how it was found."""

    mfu: float
    source: str
    how: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mfu_from_run(model_flops: float, gpu_seconds: float, peak_flops: float) -> float:
    """``model_flops / (gpu_seconds * peak_flops)``: the fraction of peak achieved."""
    for value, what in ((model_flops, "flops"), (gpu_seconds, "GPU-seconds"), (peak_flops, "peak")):
        if not math.isfinite(value) or value <= 0:
            raise ScalingLabError(f"calibration needs a positive {what}, got {value!r}")
    return model_flops / (gpu_seconds * peak_flops)


def gpu_hours(flops: float, peak_flops: float, mfu: float) -> float:
    """GPU-hours to execute ``flops`` model FLOPs at ``mfu`` of ``peak_flops`` FLOP/s."""
    return flops / (mfu * peak_flops) / SECONDS_PER_HOUR


def flops_in_gpu_hours(hours: float, peak_flops: float, mfu: float) -> float:
    """Model FLOPs that ``hours`` GPU-hours execute at ``mfu`` of ``peak_flops``."""
    return hours * SECONDS_PER_HOUR * mfu * peak_flops


def calibrate_from_public(name: str, catalogue: dict[str, Gpu]) -> Calibration:
    """MFU of a published run (``PUBLIC_RUNS``): ``6 N D / (GPU-hours * 3600 * peak)``."""
    run = PUBLIC_RUNS[name]
    peak = catalogue[run.gpu].peak_flops(run.precision)
    mfu = mfu_from_run(6.0 * run.n_params * run.tokens, run.gpu_hours * SECONDS_PER_HOUR, peak)
    return Calibration(
        mfu=mfu,
        source="calibrated",
        how=f"6ND / (GPU-hours x 3600 x {run.precision} peak {peak:.3g}) from {run.citation}",
    )


def calibrate_from_summary(path: str | Path, catalogue: dict[str, Gpu]) -> Calibration:
    """MFU of a measured run of this tool from its ``summary.json``.

    Model FLOPs are ``flops_6nd`` (the planner's convention) when present, else ``flops``,
    else ``6 x n_params x tokens``; time is ``wall_seconds`` (evaluation and checkpoints
    included: the planner prices whole runs) on ``world_size`` (or ``n_devices``, default
    1) devices; the peak is ``peak_flops`` (FLOP/s) or a catalogue ``gpu`` name with
    ``precision`` (default bf16).
    """
    data = load_json(path, what="calibration file", fix="pass a run's summary.json")
    if not isinstance(data, dict):
        raise InputError(
            "the top level is not a JSON object", fix="pass a run's summary.json", file=str(path)
        )
    missing = [k for k in ("tokens", "wall_seconds") if not data.get(k)]
    if not any(data.get(k) for k in ("flops_6nd", "flops", "n_params")):
        missing.append("flops (or flops_6nd, n_params)")
    if not data.get("peak_flops") and not data.get("gpu"):
        missing.append("peak_flops (or gpu)")
    if missing:
        raise InputError(
            f"lacks {', '.join(missing)}",
            fix="give tokens, wall_seconds, flops and the device's peak_flops",
            file=str(path),
        )
    if data.get("flops_6nd"):
        flops, counted = float(data["flops_6nd"]), "flops_6nd"
    elif data.get("flops"):
        flops, counted = float(data["flops"]), "flops"
    else:
        flops, counted = 6.0 * float(data["n_params"]) * float(data["tokens"]), "6 n_params tokens"
    if data.get("peak_flops"):
        peak = float(data["peak_flops"])
    else:
        peak = find_gpu(str(data["gpu"]), catalogue).peak_flops(str(data.get("precision", "bf16")))
    devices = int(data.get("world_size", data.get("n_devices", 1)))
    mfu = mfu_from_run(flops, float(data["wall_seconds"]) * devices, peak)
    return Calibration(
        mfu=mfu,
        source="calibrated",
        how=f"{counted} / (wall_seconds x {devices} device(s) x peak {peak:.3g}) from {path}",
    )


def check_mfu(mfu: float | None, calibrate_from: str | Path | None) -> None:
    """A one-line error unless at most one of the two is given and ``mfu`` is in (0, 1]."""
    if mfu is not None and calibrate_from is not None:
        raise ScalingLabError("give --mfu or --calibrate-from, not both")
    if mfu is not None and not 0 < mfu <= 1:
        raise ScalingLabError(f"--mfu must be in (0, 1], got {mfu}")


def resolve_mfu(
    mfu: float | None, calibrate_from: str | Path | None, catalogue: dict[str, Gpu]
) -> Calibration:
    """The MFU to plan with: given, calibrated (a public run's name or a summary.json),
    or the stated default."""
    check_mfu(mfu, calibrate_from)
    if mfu is not None:
        return Calibration(mfu=float(mfu), source="user", how="given with --mfu")
    if calibrate_from is not None:
        if str(calibrate_from).lower() in PUBLIC_RUNS:
            return calibrate_from_public(str(calibrate_from).lower(), catalogue)
        return calibrate_from_summary(calibrate_from, catalogue)
    return Calibration(
        mfu=DEFAULT_MFU,
        source="assumed",
        how="default 0.4 (large dense runs report 0.35-0.55; calibrate with --calibrate-from)",
    )


@dataclass(frozen=True)
class Hardware:
    """The device (``None``: no hardware figures), how many, the precision, the MFU and
    the price (dollars per GPU-hour, ``None`` when not given)."""

    gpu: Gpu | None
    gpus: int
    precision: str
    calibration: Calibration
    price_per_gpu_hour: float | None

    @property
    def peak(self) -> float | None:
        """Dense peak FLOP/s of one device at ``precision``."""
        return None if self.gpu is None else self.gpu.peak_flops(self.precision)

    def training(self, flops: float) -> dict[str, float | None]:
        """GPU-hours, wall hours on ``gpus`` devices and dollars for ``flops`` (6ND)."""
        if self.gpu is None:
            return {"train_gpu_hours": None, "wall_hours": None, "train_cost_dollars": None}
        hours = gpu_hours(flops, self.gpu.peak_flops(self.precision), self.calibration.mfu)
        return {
            "train_gpu_hours": hours,
            "wall_hours": hours / self.gpus,
            "train_cost_dollars": self.dollars(hours),
        }

    def dollars(self, hours: float | None) -> float | None:
        """The price of ``hours`` GPU-hours; ``None`` without a price or hours."""
        if hours is None or self.price_per_gpu_hour is None:
            return None
        return hours * self.price_per_gpu_hour

    def figures(self) -> list[Figure]:
        """The device's catalogue figures and the MFU; none without a device."""
        if self.gpu is None:
            return []
        gpu = self.gpu
        return [
            Figure("hardware", "device", gpu.name, "", "catalogue", gpu.source),
            Figure(
                "hardware",
                f"peak {self.precision}",
                self.peak,
                "FLOP/s",
                "catalogue",
                "dense tensor-core peak",
            ),
            Figure(
                "hardware", "memory", gpu.memory_bytes, "bytes", "catalogue", f"entry {gpu.key}"
            ),
            Figure(
                "hardware",
                "bandwidth",
                gpu.bandwidth_bytes_per_s,
                "bytes/s",
                "catalogue",
                f"entry {gpu.key}",
            ),
            Figure(
                "hardware",
                "MFU",
                self.calibration.mfu,
                "fraction",
                self.calibration.source,
                self.calibration.how,
            ),
        ]

    def training_figures(self, training: dict[str, float | None]) -> list[Figure]:
        """``training``'s GPU-hours, wall time and cost (:meth:`training`); none without
        a device, the cost only with a price."""
        if self.gpu is None:
            return []
        figures = [
            Figure(
                "training",
                "GPU-hours",
                training["train_gpu_hours"],
                "h",
                "derived",
                "6ND / (MFU x peak) / 3600",
            ),
            Figure(
                "training",
                f"wall time on {self.gpus} GPUs",
                training["wall_hours"],
                "h",
                "derived",
                "GPU-hours / GPUs (perfect scaling)",
            ),
        ]
        if self.price_per_gpu_hour is not None:
            figures.append(
                Figure(
                    "training",
                    "cost",
                    training["train_cost_dollars"],
                    "$",
                    "derived",
                    f"GPU-hours x ${self.price_per_gpu_hour}/GPU-hour (user)",
                )
            )
        return figures
