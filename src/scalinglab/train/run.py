"""``train_run``: what ``scalinglab train`` does with a configuration, as one call.

``run_training`` alone continues whatever checkpoint ``out_dir`` holds; a user who runs a
command twice with the same folder by mistake should be told instead. ``train_run``
refuses a folder that already holds a run unless ``resume`` says to continue it, and
trains one run, or one stable WSD run and its cooldown branches when ``cooldown_at``
lists token budgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scalinglab.errors import ScalingLabError
from scalinglab.train.checkpoint import latest_checkpoint
from scalinglab.train.config import TrainConfig
from scalinglab.train.loop import run_training
from scalinglab.train.summary import RunSummary


def train_run(
    config: TrainConfig,
    *,
    cooldown_at: Sequence[int] = (),
    resume: bool = False,
    progress: bool = True,
) -> list[RunSummary]:
    """Train ``config`` (one summary), or its WSD branches at ``cooldown_at`` tokens (one
    summary per branch). A folder that already holds a run is an error unless
    ``resume``."""
    folder = Path(config.out_dir)
    started = latest_checkpoint(folder) is not None or (folder / "stable").exists()
    if started and not resume:
        raise ScalingLabError(
            f"{folder} already holds a run; pass --resume to continue it or choose another --out"
        )
    if cooldown_at:
        from scalinglab.train.wsd import run_wsd_branches

        return run_wsd_branches(config, [int(b) for b in cooldown_at], progress=progress)
    return [run_training(config, progress=progress)]
