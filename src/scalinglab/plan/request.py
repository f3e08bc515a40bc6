"""``PlanRequest``: everything a plan is asked for, in units, checked in one place.

``scalinglab plan`` fills one from its options and :func:`scalinglab.plan.make_plan`
takes it. Every check that needs nothing but the values themselves (one budget, positive
numbers, ranges, options that exclude each other, a known family and precision,
readable ``sizes``) runs when the request is made, so a bad request fails at once with
a one-line :class:`~scalinglab.errors.ScalingLabError` naming the option. What needs a
file or the catalogue (the law, the GPU name, a calibration file, a precision the GPU
lacks) is checked when :func:`~scalinglab.plan.make_plan` resolves it.

>>> request = PlanRequest(law="epoch2024", gpu="h100", gpus=64, days=14)
>>> request.wall_hours
336.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.models.families import get_family
from scalinglab.plan.hardware import PRECISIONS
from scalinglab.plan.memory import DEFAULT_HEADROOM, check_headroom
from scalinglab.plan.training_cost import check_mfu

HOURS_PER_DAY = 24.0
_SCALES = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbgt]?)\s*$", re.IGNORECASE)


def parse_sizes(text: str) -> tuple[float, ...]:
    """Parameter counts from ``"100M, 1.3B, 6.7e9"`` (suffixes k, M, B or G, T).

    >>> parse_sizes("100M, 1.3B,6.7e9")
    (100000000.0, 1300000000.0, 6700000000.0)
    """
    sizes = []
    for item in text.split(","):
        match = _SIZE.match(item)
        value = float(match.group(1)) * _SCALES[match.group(2).lower()] if match else math.nan
        if not math.isfinite(value) or value <= 0:
            raise ScalingLabError(
                f"cannot read model size {item.strip()!r}; give positive counts separated by "
                "commas, e.g. --sizes 100M,300M,1.3B (suffixes k, M, B or G, T)"
            )
        sizes.append(value)
    return tuple(sizes)


@dataclass(frozen=True, kw_only=True)
class PlanRequest:
    """What to plan. Units are in brackets; ``None`` means "not given".

    The budget is exactly one of ``flops``, ``hours`` or ``days`` (wall-clock time on
    ``gpus`` x ``gpu``), ``dollars`` (with ``price_per_gpu_hour``, on ``gpu``) or
    ``target_loss``.
    """

    #: A preset (chinchilla, epoch2024, kaplan2020, muennighoff2023), a path to a
    #: ``scalinglab fit --json`` file, or that file's parsed dict.
    law: str | Path | Mapping[str, Any] = "chinchilla"
    #: Budget: training compute [FLOPs, the laws' 6ND].
    flops: float | None = None
    #: Budget: wall-clock time on ``gpus`` x ``gpu`` [hours].
    hours: float | None = None
    #: Budget: wall-clock time on ``gpus`` x ``gpu`` [days of 24 hours].
    days: float | None = None
    #: Budget: money to spend [dollars]; needs ``price_per_gpu_hour`` and ``gpu``.
    dollars: float | None = None
    #: Budget: the least compute whose compute-optimal model reaches this loss [nats/token].
    target_loss: float | None = None
    #: Accelerator: a catalogue key or alias, or an entry of ``hardware_file``.
    gpu: str | None = None
    #: GPUs training together [count].
    gpus: int = 1
    #: Price [dollars per GPU-hour]; adds training, inference and total costs.
    price_per_gpu_hour: float | None = None
    #: Model FLOPs utilisation [fraction in (0, 1]]; default 0.4, marked assumed.
    mfu: float | None = None
    #: Calibrate the MFU from a published run (``llama2-70b``) or a run's summary.json.
    calibrate_from: str | Path | None = None
    #: Training and inference precision: one of bf16, fp16, fp32, fp8.
    precision: str = "bf16"
    #: TOML file of ``[gpu.<key>]`` entries adding to the catalogue.
    hardware_file: str | Path | None = None
    #: Lifetime inference tokens [tokens]; adds the inference-aware optimum (Sardana 2023).
    inference_tokens: float | None = None
    #: Distinct training tokens available [tokens]; adds the data-constrained optimum
    #: (Muennighoff et al. 2023).
    unique_tokens: float | None = None
    #: Model family of the planned shape (gpt, llama, bert, ...).
    family: str = "gpt"
    #: Vocabulary size [tokens].
    vocab_size: int = 32000
    #: Training sequence length and inference context [tokens].
    seq_len: int = 2048
    #: Sequences per GPU per training step [sequences]; sizes activation memory.
    micro_batch: int = 1
    #: Decode batch for inference throughput [sequences].
    batch: int = 16
    #: A cheaper candidate within this much of the best loss is recommended [nats/token].
    loss_tolerance: float = 0.0
    #: Candidate sizes [parameters] instead of those around N*: counts or text.
    sizes: str | Sequence[float] | None = None
    #: Activation memory without stored attention matrices (fused attention kernels).
    flash_attention: bool = False
    #: Device memory a strategy must leave free to count as fitting [fraction in [0, 1)].
    memory_headroom: float = DEFAULT_HEADROOM
    #: A ``scalinglab finetune-sweep`` JSON (path or parsed dict): each candidate gets the
    #: fine-tuned score its error law predicts (:mod:`scalinglab.plan.downstream`); needs
    #: an encoder family.
    finetune_sweep: str | Path | Mapping[str, Any] | None = None
    #: The swept fine-tuning method whose law is used.
    finetune_method: str = "full"
    #: The score-aware pick: the smallest in-budget size within this of the best
    #: predicted score [macro-F1, or the sweep's metric].
    f1_tolerance: float = 0.01

    def __post_init__(self) -> None:
        self._check_budget()
        self._check_hardware()
        self._check_model()
        _ = self.candidate_sizes  # reading the sizes checks them

    @property
    def encoder(self) -> bool:
        """Whether ``family`` is served as an encoder (one pass per sequence), not decoded."""
        return get_family(self.family).inference == "encoder"

    @property
    def candidate_sizes(self) -> tuple[float, ...] | None:
        """``sizes`` as parameter counts (text read by :func:`parse_sizes`), or ``None``."""
        if self.sizes is None:
            return None
        sizes = parse_sizes(self.sizes) if isinstance(self.sizes, str) else self.sizes
        return tuple(_positive(n, "--sizes") for n in sizes)

    @property
    def wall_hours(self) -> float | None:
        """The wall-clock budget in hours (``hours``, or ``days`` x 24), if one was given."""
        return self.days * HOURS_PER_DAY if self.days is not None else self.hours

    def _check_budget(self) -> None:
        if self.hours is not None and self.days is not None:
            raise ScalingLabError("give --hours or --days, not both")
        budgets = {
            "--flops": self.flops,
            "--hours/--days": self.wall_hours,
            "--dollars": self.dollars,
            "--target-loss": self.target_loss,
        }
        chosen = [name for name, value in budgets.items() if value is not None]
        if len(chosen) != 1:
            what = "none" if not chosen else " and ".join(chosen)
            raise ScalingLabError(
                f"give exactly one budget: --flops, --hours/--days (with --gpu), --dollars (with "
                f"--gpu and --price-per-gpu-hour) or --target-loss; got {what}"
            )
        for option, value in (
            ("--flops", self.flops),
            ("--hours", self.hours),
            ("--days", self.days),
            ("--dollars", self.dollars),
            ("--target-loss", self.target_loss),
        ):
            if value is not None:
                _positive(value, option)
        if chosen[0] in ("--hours/--days", "--dollars") and self.gpu is None:
            raise ScalingLabError(f"{chosen[0]} needs --gpu NAME to convert time into FLOPs")
        if self.dollars is not None and self.price_per_gpu_hour is None:
            raise ScalingLabError("--dollars needs --price-per-gpu-hour (dollars per GPU-hour)")

    def _check_hardware(self) -> None:
        if self.gpus < 1:
            raise ScalingLabError(f"--gpus must be at least 1, got {self.gpus}")
        if self.price_per_gpu_hour is not None:
            _positive(self.price_per_gpu_hour, "--price-per-gpu-hour")
        if self.precision not in PRECISIONS:
            raise ScalingLabError(
                f"unknown precision {self.precision!r}; use one of {', '.join(PRECISIONS)}"
            )
        check_mfu(self.mfu, self.calibrate_from)
        check_headroom(self.memory_headroom)

    def _check_model(self) -> None:
        get_family(self.family)
        for value, option in (
            (self.vocab_size, "--vocab"),
            (self.seq_len, "--seq-len"),
            (self.micro_batch, "--micro-batch"),
            (self.batch, "--batch"),
        ):
            if value < 1:
                raise ScalingLabError(f"{option} must be at least 1, got {value}")
        for value, option in (
            (self.inference_tokens, "--inference-tokens"),
            (self.unique_tokens, "--unique-tokens"),
        ):
            if value is not None:
                _positive(value, option)
        if not math.isfinite(self.loss_tolerance) or self.loss_tolerance < 0:
            raise ScalingLabError(
                f"--loss-tolerance must be >= 0 nats/token, got {self.loss_tolerance}"
            )
        self._check_finetune_sweep()

    def _check_finetune_sweep(self) -> None:
        if not math.isfinite(self.f1_tolerance) or not 0 <= self.f1_tolerance < 1:
            raise ScalingLabError(f"--f1-tolerance must be in [0, 1), got {self.f1_tolerance}")
        if self.finetune_sweep is not None and not self.encoder:
            raise ScalingLabError(
                "--finetune-sweep carries a fine-tuned encoder's score to the candidates; "
                f"plan an encoder family (--family bert), not {self.family!r}"
            )


def _positive(value: float, option: str) -> float:
    """``value`` as a float; a one-line error naming ``option`` unless finite and > 0."""
    if not math.isfinite(value) or value <= 0:
        raise ScalingLabError(f"{option} must be a positive number, got {value}")
    return float(value)
