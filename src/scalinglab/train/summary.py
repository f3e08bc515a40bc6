"""The result of one run, as written to ``DIR/summary.json`` (plain data, no torch)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scalinglab.io import atomic_write_json

STATUSES = ("completed", "diverged", "failed", "stopped")
#: Epochs above which a run is said to have repeated its data (1% slack for rounding).
REPEAT_EPOCHS = 1.01


def repetition_note(epochs: float | None) -> str:
    """Words for a run that trained more than one epoch of its data ("" otherwise): a
    scaling law counts every token as new, so a repeated token is worth less than it
    says (Muennighoff et al. 2023: little lost up to about 4 epochs, fast decay past it)."""
    if not epochs or epochs <= REPEAT_EPOCHS:
        return ""
    return f"{epochs:.1f} epochs of its data: repeated tokens count less than new ones"


@dataclass
class RunSummary:
    """What a run measured. Units: loss in nats/token; ``tokens`` trained (with repeats);
    ``flops`` exact training FLOPs and ``flops_6nd`` = 6 x n_params x tokens; seconds;
    ``tokens_per_second`` over training time (evaluation and checkpoints excluded);
    ``eval_seconds`` spent in the ``evaluations`` validations of ``eval_tokens`` target
    tokens each;
    ``mfu`` = achieved FLOP/s / ``peak_flops``. ``status`` is ``completed``, ``diverged``
    (``reason`` says why), ``failed`` (an error; ``reason`` holds it) or ``stopped``
    (``stop_at_step`` reached: a stable WSD run that branches continue). ``bf16``: bf16
    autocast; ``tf32``: fp32 matmuls on TF32 tensor cores (CUDA only)."""

    status: str
    out_dir: str
    family: str
    shape: dict[str, Any]
    seed: int
    n_params: int
    n_params_nonembed: int
    tokens: int = 0
    steps: int = 0
    flops: float = 0.0
    flops_6nd: float = 0.0
    final_val_loss: float | None = None
    final_train_loss: float | None = None
    unique_tokens: int = 0
    epochs: float = 0.0
    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    evaluations: int = 0
    eval_tokens: int = 0
    tokens_per_second: float = 0.0
    flops_per_second: float = 0.0
    mfu: float | None = None
    peak_flops: float | None = None
    peak_flops_source: str = ""
    reason: str = ""
    schedule: str = ""
    lr: float = 0.0
    batch_size: int = 0
    world_size: int = 1
    device: str = "cpu"
    bf16: bool = False
    tf32: bool = False
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def write(self, path: str | Path) -> None:
        """Write as JSON atomically (a reader never sees half a file)."""
        path = Path(path)
        atomic_write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> RunSummary:
        return cls.from_dict(json.loads(Path(path).read_text()))
