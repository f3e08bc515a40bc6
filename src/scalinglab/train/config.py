"""The configuration of one training run: a plain dataclass, loadable from TOML or a dict.

Fields left ``None`` are chosen by :func:`scalinglab.train.defaults.resolve` from the
shape and the token budget (learning rate, batch size, warmup, evaluation interval);
the resolved configuration is written to ``DIR/config.json`` so a run is reproducible
from its folder alone.

>>> cfg = TrainConfig.from_dict({"family": "gpt", "n_layer": 2, "d_model": 64,
...                              "tokens": 100_000, "out_dir": "runs/a"})
>>> cfg.shape().n_head
1
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.models.shape import ShapeSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


#: ``sp``: the standard parametrization; ``mup``: muP (:mod:`scalinglab.models.mup`).
PARAMETRIZATIONS = ("sp", "mup")


@dataclass
class TrainConfig:
    """One run: shape, data, budget, optimizer, schedule, runtime and output folder.

    Units: ``tokens`` and ``unique_tokens`` in tokens; ``batch_size`` and
    ``micro_batch_size`` in sequences of ``n_ctx`` tokens (the global batch, over all
    data-parallel ranks); ``warmup_steps``, ``eval_every``, ``checkpoint_every`` in
    optimizer steps; ``val_tokens`` in tokens; ``peak_flops`` in FLOP/s.
    ``parametrization`` is ``sp`` or ``mup`` with ``mup_base_width`` the width (d_model)
    at which muP equals SP and the learning rate was tuned. ``prefetch`` builds the next
    steps' batches in a background thread (:mod:`scalinglab.train.prefetch`); it changes
    no number, only the time between steps. ``data`` names prepared token data
    (``scalinglab data prepare`` output, or nanoGPT ``train.bin``/``val.bin`` of
    ``data_dtype``) read instead of ``corpus``. ``fsdp`` shards parameters, gradients and
    optimizer state over the ranks (:mod:`scalinglab.train.fsdp`);
    ``activation_checkpointing`` recomputes each block's activations in backward
    (:mod:`scalinglab.train.activation_checkpointing`).
    """

    out_dir: str = "runs/run"
    family: str = "gpt"
    n_layer: int = 2
    d_model: int = 128
    n_head: int | None = None
    n_kv_head: int | None = None
    parametrization: str = "sp"
    mup_base_width: int = 64
    d_ff: int | None = None
    vocab_size: int = 4096
    n_ctx: int | None = None
    nsp: bool = False
    tokens: int = 1_000_000
    seed: int = 0
    corpus: str = "kjv"
    data: str | None = None
    data_dtype: str | None = None
    val_fraction: float = 0.05
    val_tokens: int = 32_768
    unique_tokens: int | None = None
    schedule: str = "cosine"
    lr: float | None = None
    min_lr_ratio: float | None = None
    warmup_steps: int | None = None
    cooldown_fraction: float = 0.2
    cooldown_shape: str = "sqrt"
    batch_size: int | None = None
    micro_batch_size: int | None = None
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    eval_every: int | None = None
    checkpoint_every: int | None = None
    save_at_steps: list[int] = field(default_factory=list)
    stop_at_step: int | None = None
    divergence_factor: float = 2.0
    device: str = "auto"
    bf16: bool | None = None
    compile: bool = False
    prefetch: bool = True
    fsdp: bool = False
    activation_checkpointing: bool = False
    threads: int | None = None
    peak_flops: float | None = None
    cache_dir: str | None = None
    export_hf: bool = True

    def shape(self) -> ShapeSpec:
        """The model shape these fields describe."""
        return ShapeSpec.create(
            self.family,  # type: ignore[arg-type]
            n_layer=self.n_layer,
            d_model=self.d_model,
            n_head=self.n_head,
            n_kv_head=self.n_kv_head,
            d_ff=self.d_ff,
            vocab_size=self.vocab_size,
            n_ctx=self.n_ctx,
            nsp=self.nsp,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def with_overrides(self, overrides: dict[str, Any]) -> tuple[TrainConfig, list[str]]:
        """This configuration with ``overrides`` applied (e.g. options typed on the command
        line over a config file), and one ``"key: old -> new"`` line per value changed, so
        that a caller can say what it overrode instead of dropping it silently."""
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ScalingLabError(f"unknown training option(s) {', '.join(unknown)}")
        changes = [
            f"{key}: {getattr(self, key)!r} -> {value!r}"
            for key, value in overrides.items()
            if getattr(self, key) != value
        ]
        return self.replace(**overrides), changes

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict; unknown keys are an error that lists the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ScalingLabError(
                f"unknown training option(s) {', '.join(unknown)}; "
                f"known options: {', '.join(sorted(known))}"
            )
        values = dict(data)
        if "save_at_steps" in values:
            values["save_at_steps"] = [int(s) for s in values["save_at_steps"]]
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        """Load from a TOML file: top-level keys, or the keys of a ``[train]`` table."""
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ScalingLabError(f"config file {file} does not exist") from None
        except tomllib.TOMLDecodeError as error:
            raise ScalingLabError(f"{file}: invalid TOML ({error})") from None
        return cls.from_dict(data.get("train", data))
