"""The pretraining engine: one run, its schedule, optimizer, checkpoints and metrics.

``run_training(TrainConfig(...)) -> RunSummary`` trains one run;
``run_wsd_branches(config, budgets)`` trains one stable WSD run and its cooldown branches;
``train_run(config, cooldown_at=..., resume=...)`` is what ``scalinglab train`` calls.
"""

from scalinglab.train.config import TrainConfig
from scalinglab.train.loop import run_training
from scalinglab.train.run import train_run
from scalinglab.train.summary import RunSummary

__all__ = ["RunSummary", "TrainConfig", "run_training", "train_run"]
