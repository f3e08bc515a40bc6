"""The quickstart's learning-rate pilot: a small sweep over learning rates at the
smallest budget, turned into the recipe that sets the rate of every later run.

Why: the scale-aware default rate of ``scalinglab train`` (Kaplan et al.'s fit to larger
decoders) was measured about 2.5x below the best rate of the one-layer models the
quickstart trains, so a law fitted to runs at that rate describes under-tuned models.
The pilot trains each sweep width at the smallest budget at every rate of ``LR_GRID``,
locates each width's best rate by a parabola in log lr over the runs' own validation
losses (:func:`~scalinglab.laws.hyperparams.optimal_settings`; the target run is never
looked at), gives a width whose best rate sits at an edge of its grid one more rate
beyond that edge (at most ``MAX_EXTENSIONS`` times), and fits the learning-rate law to
the optima (:func:`~scalinglab.laws.hyperparams.fit_recipe`). Under the standard
parametrization (the quickstart's) it is ``lr*(N)``: at one budget ``D`` moves in
lockstep with ``N``, so the law is of ``N`` alone. When the runs train under muP
(``train["parametrization"]``) it is one rate for every width, the geometric mean of the
optima, since muP's best rate does not move with width. When fewer than three optima
can be located the pilot says why and the runs keep the default rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.laws.hyperparams import (
    Optimum,
    PowerLaw,
    Recipe,
    fit_recipe,
    located_optima,
    optimal_settings,
)
from scalinglab.models.shape import ShapeSpec
from scalinglab.registry import Registry
from scalinglab.sweep.design import PlannedRun, SweepDesign, isoflop_grid, with_grid
from scalinglab.sweep.export import runs_dataframe
from scalinglab.sweep.runner import run_sweep

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PILOT_NAME = "quickstart-lr"
#: Peak learning rates tried at every width (a geometric grid, factor 2). The default
#: rule gives 1.5e-3 to 1.9e-3 at the quickstart's sizes; the grid reaches 8x above it.
LR_GRID = (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2)
#: Factor between a grid edge and the rate tried beyond it.
EXTENSION_FACTOR = 2.0
#: Rounds in which widths whose best rate lies at a grid edge get one more rate.
MAX_EXTENSIONS = 2


@dataclass
class LrPilot:
    """What the pilot found: the recipe (None when no law could be fitted, with
    ``note`` saying why), each width's optimum, and the runs it trained."""

    recipe: Recipe | None
    optima: list[Optimum]
    frame: pd.DataFrame
    note: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def runs(self) -> int:
        """Pilot runs trained (the grid and its extensions)."""
        return len(self.frame)

    @property
    def spread(self) -> float:
        """The largest located optimum over the smallest (1: every width agrees; NaN:
        none located): how far the best rate moves across the widths."""
        values = [o.value for o in located_optima(self.optima)]
        return max(values) / min(values) if values else math.nan

    def to_json_dict(self) -> dict[str, Any]:
        law = None if self.recipe is None else self.recipe.lr
        return {
            "law": None if law is None else law.formula(),
            "exponent_N_interval": None if law is None else _exponent_interval(law),
            "optima": [_optimum_dict(optimum) for optimum in self.optima],
            "spread": self.spread,
            "runs": self.runs,
            "grid": list(LR_GRID),
            "note": self.note,
            "warnings": list(self.warnings),
        }

    def figure(self) -> Figure:
        """Loss against learning rate per width, the optima and the law."""
        from scalinglab.laws.hyperparam_plots import plot_lr_study

        return plot_lr_study(self.frame, self.optima, self._law())

    def write_plot(self, path: str | Path) -> Path:
        """:meth:`figure` as a PNG at ``path``."""
        from scalinglab.laws.hyperparam_plots import write_lr_study_plot

        return write_lr_study_plot(path, self.frame, self.optima, self._law())

    def _law(self) -> PowerLaw | None:
        return None if self.recipe is None else self.recipe.lr


def _exponent_interval(law: Any) -> list[float] | None:
    return list(law.exponent_interval("N")) if "N" in law.exponents else None


def _optimum_dict(optimum: Optimum) -> dict[str, Any]:
    return {
        "N": optimum.keys["N"],
        "D": optimum.keys["D"],
        "lr": optimum.value,
        "interval": [optimum.lower, optimum.upper],
        "tried": list(optimum.tried),
        "at_edge": optimum.at_edge,
        "note": optimum.note,
    }


def base_design(
    budget: float, shapes: list[ShapeSpec], *, seed: int, train: Mapping[str, Any]
) -> SweepDesign:
    """Every shape at ``budget`` FLOPs, before the learning-rate axis."""
    return isoflop_grid(PILOT_NAME, [budget], shapes=shapes, seed=seed, train=dict(train))


def pilot_design(
    budget: float, shapes: list[ShapeSpec], *, seed: int, train: Mapping[str, Any]
) -> SweepDesign:
    """Every shape at ``budget`` FLOPs, crossed with the rates of ``LR_GRID``."""
    return with_grid(base_design(budget, shapes, seed=seed, train=train), {"lr": list(LR_GRID)})


def run_lr_pilot(
    budget: float,
    shapes: list[ShapeSpec],
    registry_path: str | Path,
    *,
    workers: int,
    seed: int,
    train: Mapping[str, Any],
    bootstrap: int,
    progress: bool = True,
) -> LrPilot:
    """Train the pilot (reusing finished runs), extend the grid where an optimum lies at
    its edge, and fit the learning-rate law (see the module docstring)."""
    base = base_design(budget, shapes, seed=seed, train=train)
    design = with_grid(base, {"lr": list(LR_GRID)})
    for extension in range(MAX_EXTENSIONS + 1):
        run_sweep(design, registry_path, workers=workers, progress=progress)
        frame = _pilot_frame(registry_path, design)
        try:
            optima = optimal_settings(frame, "lr", ("N", "D"))
        except ScalingLabError as error:
            return LrPilot(None, [], frame, _default_rule(error))
        extra = _extensions(base, optima, frame) if extension < MAX_EXTENSIONS else []
        if not extra:
            break
        design = SweepDesign(design.name, design.kind, design.runs + tuple(extra), design.options)
    source = f"quickstart learning-rate pilot ({len(frame)} runs at {budget:.3g} FLOPs)"
    lr_inputs = () if train.get("parametrization") == "mup" else ("N", "D")
    try:
        fit = fit_recipe(
            frame, lr_column="lr", bootstrap=bootstrap, source=source, lr_inputs=lr_inputs
        )
    except ScalingLabError as error:
        return LrPilot(None, optima, frame, _default_rule(error))
    return LrPilot(fit.recipe, fit.lr_optima, frame, warnings=fit.recipe.warnings)


def _default_rule(error: ScalingLabError) -> str:
    return f"no learning-rate law ({error}): the runs keep the default rule"


def _pilot_frame(registry_path: str | Path, design: SweepDesign) -> pd.DataFrame:
    """The finished runs of ``design`` (a re-used folder may hold others)."""
    with Registry(registry_path) as registry:
        frame, _ = runs_dataframe(registry, PILOT_NAME)
    ids = {run.run_id for run in design.runs}
    return frame[frame["run_id"].isin(ids)].reset_index(drop=True)


def _extensions(base: SweepDesign, optima: list[Optimum], frame: pd.DataFrame) -> list[PlannedRun]:
    """One run beyond the grid edge for each width whose best rate lies at that edge and
    whose next rate has not been tried (a diverged run counts as tried)."""
    runs = []
    for optimum in (o for o in optima if o.at_edge):
        rates = frame.loc[frame["N"] == optimum.keys["N"], "lr"].astype(float)
        upward = math.isclose(optimum.value, max(optimum.tried))
        rate = optimum.value * (EXTENSION_FACTOR if upward else 1 / EXTENSION_FACTOR)
        if any(math.isclose(rate, tried, rel_tol=1e-6) for tried in rates):
            continue
        width_run = [r for r in base.runs if r.n_params_nonembed == optimum.keys["N"]]
        runs += with_grid(SweepDesign(base.name, base.kind, tuple(width_run)), {"lr": [rate]}).runs
    return runs
