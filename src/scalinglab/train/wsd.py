"""WSD cooldown branches: one stable run, cooldowns branched from its checkpoints.

Hägele et al. 2024 ("Scaling Laws and Compute-Optimal Training Beyond Fixed Training
Durations") show that a warmup-stable-decay run cooled down at token budget ``D`` matches
a cosine run tuned for ``D``, and that the stable phase can be shared: one run at constant
learning rate, with a short cooldown branched off at each budget, gives a whole loss-vs-D
curve for the price of one long run plus the cooldowns.

Because the WSD learning rate before the cooldown does not depend on the budget, the
branch for budget ``D`` (the stable run's checkpoint at step ``S_D - cooldown(S_D)``,
continued with the WSD schedule of ``S_D`` steps) is exactly the WSD run of budget ``D``.
Batch size, learning rate and warmup are resolved once, from the largest budget, so
every branch shares them.

Layout: ``DIR/stable`` (the stable run, stopped after the last branch point) and
``DIR/cooldown-<tokens>`` per budget, each a complete run folder with its own summary.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.io import publish_folder
from scalinglab.train.checkpoint import checkpoint_root, latest_checkpoint, step_dir_name
from scalinglab.train.config import TrainConfig
from scalinglab.train.defaults import resolve
from scalinglab.train.loop import run_training
from scalinglab.train.schedule import cooldown_steps
from scalinglab.train.summary import RunSummary


def branch_points(config: TrainConfig, budgets: Sequence[int]) -> dict[int, tuple[int, int]]:
    """For each token budget: (total steps, step where its cooldown starts), given a
    resolved ``config`` (batch size known)."""
    assert config.batch_size is not None
    per_step = config.batch_size * config.shape().n_ctx
    points = {}
    for budget in sorted({int(b) for b in budgets}):
        steps = math.ceil(budget / per_step)
        start = steps - cooldown_steps(steps, config.cooldown_fraction)
        if start < 1:
            raise ScalingLabError(
                f"budget {budget:,} tokens is {steps} steps of {per_step:,} tokens: too few to "
                "branch a cooldown; raise the budget or lower --batch-size"
            )
        points[budget] = (steps, start)
    return points


def run_wsd_branches(
    config: TrainConfig,
    budgets: Sequence[int],
    *,
    progress: bool = True,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> list[RunSummary]:
    """Train the stable run once and one cooldown branch per token budget; return the
    branches' summaries in increasing budget order. Resumable: a finished stable run or
    branch is not trained again."""
    if not budgets:
        raise ScalingLabError("give at least one cooldown budget (--cooldown-at T1,T2,...)")
    base = resolve(config.replace(schedule="wsd", tokens=max(int(b) for b in budgets)))
    points = branch_points(base, budgets)
    out = Path(config.out_dir)
    stable_dir = out / "stable"
    stable = base.replace(
        out_dir=str(stable_dir),
        schedule="constant",
        stop_at_step=max(start for _, start in points.values()),
        save_at_steps=sorted({start for _, start in points.values()}),
        export_hf=False,
    )
    run_training(stable, progress=progress, on_eval=on_eval)
    summaries = []
    for budget, (_, start) in points.items():
        branch_dir = out / f"cooldown-{budget}"
        _seed_branch(stable_dir, branch_dir, start)
        branch = base.replace(out_dir=str(branch_dir), tokens=budget)
        summaries.append(run_training(branch, progress=progress, on_eval=on_eval))
    return summaries


def _seed_branch(stable_dir: Path, branch_dir: Path, start: int) -> None:
    """Start a branch folder from the stable run's checkpoint at ``start`` (once)."""
    if latest_checkpoint(branch_dir) is not None:
        return
    source = checkpoint_root(stable_dir) / step_dir_name(start)
    if not (source / "state.json").exists():
        raise ScalingLabError(f"the stable run has no checkpoint at step {start} in {source}")
    target_root = checkpoint_root(branch_dir)
    target_root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(stable_dir / "config.json", branch_dir / "config.json")
    lines = (stable_dir / "metrics.jsonl").read_text().splitlines()
    kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= start]
    (branch_dir / "metrics.jsonl").write_text("".join(line + "\n" for line in kept))
    tmp = target_root / f".tmp-branch-{source.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    publish_folder(tmp, target_root / source.name)
