"""What a run carries from one step to the next and across a resume: the step reached,
the clocks, the divergence monitor, the last losses and the evaluation count.

:class:`RunState` is written into each checkpoint's ``state.json`` (as JSON data, by
:meth:`RunState.checkpoint_record`) and read back on resume (:meth:`RunState.restored`),
so the seconds and counts in ``summary.json`` cover every session of a resumed run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalinglab.io import atomic_write_text
from scalinglab.train.divergence import DivergenceMonitor


@dataclass
class Clock:
    """Wall, training and evaluation seconds, accumulated over resumes."""

    wall_before: float = 0.0
    train_before: float = 0.0
    eval_before: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    train_now: float = 0.0
    eval_now: float = 0.0

    @property
    def wall(self) -> float:
        return self.wall_before + time.perf_counter() - self.started

    @property
    def train(self) -> float:
        return self.train_before + self.train_now

    @property
    def eval(self) -> float:
        return self.eval_before + self.eval_now


@dataclass
class RunState:
    """The resumable scalars of a run: ``done`` optimizer steps, the clocks (seconds), the
    divergence monitor, the last training and validation losses (nats/token), the number
    of evaluations so far and the tokens of the last one."""

    monitor: DivergenceMonitor
    clock: Clock = field(default_factory=Clock)
    done: int = 0
    evaluations: int = 0
    eval_tokens: int = 0
    train_loss: float | None = None
    val_loss: float | None = None

    def checkpoint_record(self, batch_size: int, tokens_per_step: int) -> dict[str, Any]:
        """The JSON data a checkpoint stores: the step, the data position (samples, tokens)
        and everything :meth:`restored` needs to continue."""
        return {
            "step": self.done,
            "samples": self.done * batch_size,
            "tokens": self.done * tokens_per_step,
            "monitor": self.monitor.state(),
            "wall_seconds": self.clock.wall,
            "train_seconds": self.clock.train,
            "eval_seconds": self.clock.eval,
            "evaluations": self.evaluations,
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
        }

    @classmethod
    def restored(cls, record: dict[str, Any]) -> RunState:
        """The state a checkpoint's JSON ``record`` describes (older records may lack the
        evaluation fields; they count from zero)."""
        return cls(
            monitor=DivergenceMonitor(**record["monitor"]),
            clock=Clock(
                wall_before=record["wall_seconds"],
                train_before=record["train_seconds"],
                eval_before=record.get("eval_seconds", 0.0),
            ),
            done=int(record["step"]),
            evaluations=int(record.get("evaluations", 0)),
            train_loss=record.get("train_loss"),
            val_loss=record.get("val_loss"),
        )


def truncate_metrics(path: Path, step: int) -> None:
    """Drop evaluation lines written after the checkpoint a run resumes from."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a kill
    atomic_write_text(path, "".join(line + "\n" for line in kept))
