"""``run_quickstart``: the whole loop on a laptop CPU, on the embedded corpus.

1. Calibrate this machine's training throughput (cached) and size four IsoFLOP budgets
   (each twice the last; never below :func:`smallest_budget`) so that the whole
   quickstart fits ``budget_minutes``.
2. Choose the learning rate: a pilot sweep over rates at the smallest budget, fitted to
   ``lr*(N)`` on the pilot's own validation losses (:mod:`scalinglab.quickstart.lr_pilot`),
   sets the rate of every later run; ``recipe`` (``--recipe FILE``) replaces the pilot.
   Train the IsoFLOP sweep (one-layer GPTs of five widths, 1.3e4 to 3.1e5 non-embedding
   parameters, at every budget, leaving out the points past ``MAX_EPOCHS`` epochs of the
   corpus) on the local process pool into ``OUT/registry.db``.
3. Fit approach 2 (IsoFLOP parabolas) and approach 3 (parametric law) with bootstrap
   intervals, on the four largest budgets. The law counts as unidentified when a
   parameter of the approach-3 law sits at a bound of its search box (at the smallest
   budgets the runs are still in their first hundred steps), or when the two approaches'
   95% intervals of the allocation exponent ``a`` do not overlap
   (:func:`~scalinglab.laws.compare.allocation_conflicts`). Then one more budget of
   twice the largest is trained and the law refitted on the four largest budgets; a law
   still unidentified is flagged in the output and the JSON. The time budget is sized
   for that extension, so the quickstart fits its budget either way.
4. Pick the compute-optimal run at ``TARGET_MULTIPLE`` x the largest budget from the
   approach-3 law over one-layer shapes with exact FLOPs, among those that train on at
   most one epoch of the corpus (:func:`~scalinglab.laws.frontier.token_cap`), and
   predict its loss with a 95% bootstrap interval.
5. Train that run, compare the measured loss with the prediction, write the report.

Every run shares the training recipe (cosine schedule, batches of 8 sequences, the
learning rate of the pilot's law) and the fixed validation set, so the law sees one
smooth family. ``precision`` trains (and calibrates) in bf16 autocast or fp32 whatever
the CPU's default, to reproduce a run of another CPU. Re-running with the same folder
reuses finished runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from scalinglab.errors import ScalingLabError
from scalinglab.io import atomic_write_text, dumps_strict
from scalinglab.laws.bootstrap import percentile_interval
from scalinglab.laws.compare import allocation_conflicts
from scalinglab.laws.forms import ChinchillaLaw
from scalinglab.laws.frontier import token_cap
from scalinglab.laws.hyperparams import Recipe
from scalinglab.laws.orchestrate import FitReport, MethodReport, fit_runs
from scalinglab.laws.runs_table import runs_table_from_frame
from scalinglab.models.counting import training_flops
from scalinglab.models.ladder import width_ladder
from scalinglab.models.shape import ShapeSpec
from scalinglab.quickstart.lr_pilot import LrPilot, pilot_design, run_lr_pilot
from scalinglab.registry import Registry
from scalinglab.report import TargetCheck, build_report
from scalinglab.sweep.calibrate import Throughput, calibrate, flops_per_second
from scalinglab.sweep.design import SweepDesign, explicit_runs, isoflop_grid, with_recipe
from scalinglab.sweep.executors import default_workers
from scalinglab.sweep.export import runs_dataframe
from scalinglab.sweep.frontier import optimal_run
from scalinglab.sweep.runner import run_sweep
from scalinglab.train.defaults import MIN_STEPS

VOCAB_SIZE = 384
N_CTX = 64
BUDGET_RATIO = 2.0
#: Four budgets span 8x in compute: with three (4x), the law's E sat at its bound and the
#: prediction at 4x the largest budget missed by 5.5%.
N_BUDGETS = 4
#: Budgets added (each twice the largest) while the fitted law has a parameter at a bound.
MAX_BUDGET_EXTENSIONS = 1
#: The sweep trains one-layer GPTs of these widths (1.3e4 to 3.1e5 non-embedding
#: parameters) at every budget. One depth, so that only N changes along an IsoFLOP
#: curve: at these sizes, mixing depths adds shape effects as large as the size effect
#: (measured: 3 layers x 64 at 1.5e5 parameters lost 0.15-0.24 nats to 1 x 160 at 3.1e5
#: on the same budget).
WIDTHS = (32, 64, 96, 128, 160)
#: Widths the prediction chooses from (up to 3.7e6 non-embedding parameters).
TARGET_WIDTHS = tuple(range(32, 513, 32))
TARGET_MULTIPLE = 4.0
#: Sweep points that would train on more epochs of the corpus than this are left out
#: (not trained, not fitted): the law counts every token as new, and Muennighoff et al.
#: 2023 find repeated tokens worth about as much as new ones up to about 4 epochs, and
#: fast less past them. The target run trains on at most one epoch.
MAX_EPOCHS = 4.0
#: Training options shared by every quickstart run: batches of 8 sequences (512 tokens),
#: a fixed validation set of 16,384 tokens, one evaluation at the end, a checkpoint every
#: 500 steps (each is fsynced), no HF export; the learning rate is the scale-aware default
#: of ``scalinglab train``. The batch: the default (DeepSeek's B_opt, fitted at 1e17 FLOPs
#: and up) gives about 34 sequences at these budgets, every size then trains too few
#: steps and the smallest wins every budget; with 8 the IsoFLOP minima move inside the
#: sizes (docs/quickstart.md has the measurements).
BATCH_SIZE = 8
TRAIN = {
    "batch_size": BATCH_SIZE,
    "val_tokens": 16_384,
    "eval_every": 1_000_000_000,
    "checkpoint_every": 500,
    "export_hf": False,
}
#: Fraction of the time budget given to training; the rest covers process start-up,
#: data loading, evaluation, fitting and the report.
TRAINING_SHARE = 0.6
SWEEP_NAME = "quickstart"
TARGET_NAME = "quickstart-target"
#: The learning-rate pilot's figure in the report: its file stem, title and caption.
PILOT_FIGURE = "lr_pilot"
PILOT_FIGURE_TEXT = (
    "Learning-rate pilot",
    "Validation loss versus peak learning rate for each width at the pilot's budget, each "
    "width's best rate (left); the best rates with their 95% intervals and the fitted law "
    "that set the rate of every sweep run and of the target (right).",
)
#: ``precision`` values: the CPU's default (bf16 autocast where it computes bf16
#: natively), or either one forced.
PRECISIONS = {"auto": None, "bf16": True, "fp32": False}


@dataclass
class QuickstartResult:
    """The figures of one quickstart (losses in nats/token, FLOPs, seconds)."""

    predicted_loss: float
    predicted_interval: tuple[float, float]
    measured_loss: float
    target_flops: float
    target_n_params_nonembed: int
    target_tokens: int
    rel_error: float
    inside_interval: bool
    budgets: list[float]
    fit_budgets: list[float]
    sweep_runs: int
    max_sweep_tokens: float
    left_out: list[str]
    approach2_a: float | None
    approach3_params: dict[str, float]
    wall_seconds: float
    seconds: dict[str, float]
    report: str
    registry: str
    precision: str
    lr_source: str
    lr_pilot: dict[str, Any] | None
    law_at_bounds: list[str] = field(default_factory=list)
    allocation_intervals: dict[str, list[float]] = field(default_factory=dict)
    approaches_disagree: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["predicted_interval"] = list(self.predicted_interval)
        return data


def one_layer_shapes(widths: tuple[int, ...]) -> list[ShapeSpec]:
    """One-layer GPTs of the quickstart's vocabulary and context, heads of 32."""
    return width_ladder(widths, vocab_size=VOCAB_SIZE, n_ctx=N_CTX, head_dim=32)


def train_options(precision: str = "auto") -> dict[str, Any]:
    """``TRAIN``, with ``bf16`` set when ``precision`` forces one (see ``PRECISIONS``)."""
    if precision not in PRECISIONS:
        choices = ", ".join(PRECISIONS)
        raise ScalingLabError(f"--precision must be one of {choices}, got {precision!r}")
    bf16 = PRECISIONS[precision]
    return dict(TRAIN) if bf16 is None else {**TRAIN, "bf16": bf16}


def _design(
    budgets: list[float], seed: int, train: dict[str, Any], max_tokens: float | None = None
) -> SweepDesign:
    return isoflop_grid(
        SWEEP_NAME, budgets, shapes=one_layer_shapes(WIDTHS), seed=seed, train=train,
        max_tokens=max_tokens,
    )  # fmt: skip


def max_sweep_tokens(seed: int, train: dict[str, Any]) -> float:
    """``MAX_EPOCHS`` epochs of the corpus the sweep trains on (tokens of its training
    split, at the sweep's tokenizer; the tokenizer and shards are built and cached)."""
    from scalinglab.train.config import TrainConfig
    from scalinglab.train.loop import run_data

    run = _design([smallest_budget()], seed, train).runs[0]
    return MAX_EPOCHS * run_data(TrainConfig.from_dict(run.config)).unique_tokens


def planned_budgets(c1: float, extensions: int = 0) -> list[float]:
    """``N_BUDGETS`` budgets from ``c1`` FLOPs, each ``BUDGET_RATIO`` x the last, and
    ``extensions`` more above them."""
    return [c1 * BUDGET_RATIO**i for i in range(N_BUDGETS + extensions)]


def _throughput(train: dict[str, Any], cache: Path | None) -> list[Throughput]:
    """This machine's calibrated throughput for the sweep's shapes, in ``train``'s
    precision (measured once, then read from the cache)."""
    shapes = one_layer_shapes(WIDTHS)
    return calibrate(shapes, threads=1, cache_dir=cache, bf16=train.get("bf16"))


def _estimated_seconds(
    c1: float,
    workers: int,
    measured: list[Throughput],
    train: dict[str, Any],
    *,
    pilot: bool,
    seed: int,
    max_tokens: float | None = None,
) -> float:
    """Training seconds, in the worst case, of the learning-rate pilot at ``c1`` (when
    ``pilot``), the sweep (its points up to ``max_tokens``) with every budget extension
    and the target run past it, on ``workers`` workers at the ``measured`` throughput."""
    design = _design(planned_budgets(c1, MAX_BUDGET_EXTENSIONS), seed, train, max_tokens)
    runs = list(design.runs)
    if pilot:
        runs += pilot_design(c1, one_layer_shapes(WIDTHS), seed=seed, train=train).runs
    sweep = sum(r.flops / flops_per_second(r.shape, measured) for r in runs) / workers
    sizes = sorted({r.shape for r in design.runs}, key=lambda shape: shape.d_model)
    target = TARGET_MULTIPLE * max(r.flops for r in design.runs)
    return sweep + target / flops_per_second(sizes[len(sizes) // 2], measured)


@dataclass(frozen=True)
class BudgetSizing:
    """The sweep's budgets (FLOPs) and the worst-case training seconds they take."""

    budgets: list[float]
    estimated_seconds: float
    budget_seconds: float

    @property
    def available_seconds(self) -> float:
        """The training share of the time budget (seconds) the budgets are sized to."""
        return self.budget_seconds * TRAINING_SHARE

    @property
    def at_floor(self) -> bool:
        """Whether the budgets are the smallest the sweep allows (``smallest_budget``)."""
        return math.isclose(self.budgets[0], smallest_budget())

    def floor_note(self) -> str | None:
        """A note when even the smallest budgets are estimated to train for longer than
        the whole time budget."""
        if not (self.at_floor and self.estimated_seconds > self.budget_seconds):
            return None
        return (
            f"the smallest budgets are estimated at {self.estimated_seconds / 60:.0f} min of "
            f"training on this machine in the worst case, more than the "
            f"{self.budget_seconds / 60:g} min "
            "given: the quickstart will take longer"
        )


def size_budgets(
    budget_minutes: float,
    workers: int,
    seed: int = 0,
    cache: Path | None = None,
    *,
    pilot: bool = True,
    precision: str = "auto",
    max_tokens: float | None = None,
) -> BudgetSizing:
    """The budgets whose estimated worst-case training time (with the learning-rate
    pilot when ``pilot``, every budget extension, and the sweep's points up to
    ``max_tokens``) is ``TRAINING_SHARE`` of the time budget, never below
    :func:`smallest_budget`."""
    budget_seconds = budget_minutes * 60.0
    train = train_options(precision)
    measured = _throughput(train, cache)

    def estimate(c1: float) -> float:
        return _estimated_seconds(
            c1, workers, measured, train, pilot=pilot, seed=seed, max_tokens=max_tokens
        )

    c1 = smallest_budget()
    for _ in range(3):
        c1 = max(smallest_budget(), c1 * budget_seconds * TRAINING_SHARE / estimate(c1))
    return BudgetSizing(planned_budgets(c1), estimate(c1), budget_seconds)


def smallest_budget() -> float:
    """The smallest first budget (FLOPs, in steps of 25%) at which every shape of the
    sweep trains at least ``MIN_STEPS`` optimizer steps (the floor of
    :mod:`scalinglab.train.defaults`)."""
    largest = one_layer_shapes(WIDTHS)[-1]
    tokens = MIN_STEPS * BATCH_SIZE * N_CTX
    budget = 1e10
    while budget < training_flops(largest, tokens):
        budget *= 1.25
    return budget


def _fit(runs: Any, bootstrap: int, seed: int) -> FitReport:
    """Approaches 2 and 3, each with its bootstrap, in one report; approach 2 failing
    (no budget with its minimum inside the sizes) is recorded, not fatal."""
    methods = {}
    for method in ("approach2", "approach3"):
        try:
            report = fit_runs(runs, method=method, bootstrap=bootstrap, seed=seed)
        except ScalingLabError as error:
            if method == "approach3":
                raise
            methods[method] = MethodReport(None, error=str(error))
            continue
        methods[method] = report.methods[method]
    return FitReport("all", len(runs), "huber", methods, bootstrap)


def fit_window(budgets: list[float]) -> list[float]:
    """The ``N_BUDGETS`` largest of ``budgets``: the ones the law is fitted on."""
    return sorted(budgets)[-N_BUDGETS:]


@dataclass(frozen=True)
class SweepFit:
    """Approaches 2 and 3 fitted on the ``N_BUDGETS`` largest of the ``trained`` budgets;
    ``left_out``: the ids of the sweep points past ``MAX_EPOCHS`` (neither trained nor
    fitted)."""

    trained: list[float]
    runs: Any
    fit: FitReport
    left_out: list[str]

    @property
    def budgets(self) -> list[float]:
        """The budgets the law is fitted on (FLOPs)."""
        return fit_window(self.trained)

    @property
    def law(self) -> ChinchillaLaw:
        """The approach-3 law."""
        return self.fit.methods["approach3"].result.fits["chinchilla"].law  # type: ignore[union-attr,return-value]

    @property
    def at_bounds(self) -> list[str]:
        """Parameters of the approach-3 law at a bound of their search box."""
        return self.law.parameters_at_bounds()

    @property
    def allocation_intervals(self) -> dict[str, tuple[float, float]]:
        """Each approach's 95% bootstrap interval of the allocation exponent ``a``."""
        intervals = {name: report.intervals() for name, report in self.fit.methods.items()}
        return {name: found["a"] for name, found in intervals.items() if "a" in found}

    @property
    def disagreements(self) -> list[str]:
        """The approaches' allocation exponents, where their intervals do not overlap."""
        return allocation_conflicts(self.allocation_intervals)

    @property
    def unidentified(self) -> list[str]:
        """Why these budgets do not identify the law (empty when they do)."""
        at_bounds = self.at_bounds
        bounds = f"approach 3's {', '.join(at_bounds)} at a bound of its search box"
        return ([bounds] if at_bounds else []) + self.disagreements


@dataclass(frozen=True)
class _SweepContext:
    """What every training-and-fitting round of the sweep shares."""

    registry_path: Path
    workers: int
    seed: int
    train: dict[str, Any]
    recipe: Recipe | None
    bootstrap: int
    progress: bool
    max_tokens: float

    def train_and_fit(self, budgets: list[float]) -> SweepFit:
        """Train every width at ``budgets`` up to ``max_tokens`` (reusing finished runs)
        and fit the ``N_BUDGETS`` largest."""
        design = _design(budgets, self.seed, self.train, self.max_tokens)
        if self.recipe is not None:
            design = with_recipe(design, self.recipe)
        run_sweep(design, self.registry_path, workers=self.workers, progress=self.progress)
        with Registry(self.registry_path) as registry:
            frame, _ = runs_dataframe(registry, SWEEP_NAME)
        fitted = fit_window(budgets)
        ids = {run.run_id for run in design.runs if run.budget in fitted}
        frame = frame[frame["run_id"].isin(ids)].reset_index(drop=True)
        runs = runs_table_from_frame(frame, source="quickstart sweep").df
        fit = _fit(runs, self.bootstrap, self.seed)
        return SweepFit(list(budgets), runs, fit, list(design.options.get("left_out", [])))


def _sweep_until_identified(
    context: _SweepContext, budgets: list[float], console: Console
) -> tuple[SweepFit, list[str]]:
    """The sweep at ``budgets``, extended by a budget of ``BUDGET_RATIO`` x the largest
    while the law is unidentified (:attr:`SweepFit.unidentified`; at most
    ``MAX_BUDGET_EXTENSIONS`` times); the warning when it still is."""
    sweep = context.train_and_fit(budgets)
    for _ in range(MAX_BUDGET_EXTENSIONS):
        if not sweep.unidentified:
            break
        budgets = [*budgets, budgets[-1] * BUDGET_RATIO]
        console.print(
            f"    [yellow]{'; '.join(sweep.unidentified)}:[/] these budgets cannot identify "
            f"the law; training a budget of {budgets[-1]:.2g} FLOPs and refitting on the "
            f"{N_BUDGETS} largest"
        )
        sweep = context.train_and_fit(budgets)
    if not sweep.unidentified:
        return sweep, []
    warning = (
        f"{'; '.join(sweep.unidentified)}, after {MAX_BUDGET_EXTENSIONS} budget "
        "extension(s): these budgets do not identify the law, so its prediction is not to "
        "be trusted"
    )
    console.print(f"    [bold red]warning:[/] {warning}")
    return sweep, [warning]


def run_quickstart(
    budget_minutes: float = 10.0,
    out_dir: str | Path = "scalinglab-quickstart",
    *,
    workers: int | None = None,
    bootstrap: int = 200,
    seed: int = 0,
    progress: bool = True,
    recipe: Recipe | None = None,
    precision: str = "auto",
) -> QuickstartResult:
    """Run the whole loop in about ``budget_minutes`` (see the module docstring).

    ``recipe`` (a :class:`~scalinglab.laws.hyperparams.Recipe`) sets the learning rate of
    every run, the sweep's and the target's, from its law instead of the pilot's;
    ``precision`` is ``auto``, ``bf16`` or ``fp32`` (``PRECISIONS``)."""
    if budget_minutes <= 0:
        raise ScalingLabError(f"--budget-minutes must be positive, got {budget_minutes}")
    train = train_options(precision)
    start = time.perf_counter()
    console = Console(stderr=True, quiet=not progress)
    out = Path(out_dir)
    registry_path = out / "registry.db"
    workers = workers or default_workers()
    seconds: dict[str, float] = {}

    def step(label: str) -> None:
        seconds[label] = time.perf_counter() - start - sum(seconds.values())

    console.rule("[bold]scalinglab quickstart")
    console.print(f"1/6 calibrating throughput and sizing budgets for {budget_minutes:g} min")
    max_tokens = max_sweep_tokens(seed, train)
    sizing = size_budgets(
        budget_minutes, workers, seed, pilot=recipe is None, precision=precision,
        max_tokens=max_tokens,
    )  # fmt: skip
    budgets = sizing.budgets
    console.print(
        f"    budgets {', '.join(f'{b:.2g}' for b in budgets)} FLOPs, "
        f"{len(_design(budgets, seed, train, max_tokens).runs)} runs, "
        f"target {TARGET_MULTIPLE:g} x the largest budget fitted"
    )
    warnings = [note] if (note := sizing.floor_note()) else []
    for warning in warnings:
        console.print(f"    [yellow]note:[/] {warning}")
    step("calibrate")
    pilot = None
    if recipe is None:
        console.print(f"2/6 learning-rate pilot at {budgets[0]:.2g} FLOPs")
        pilot = run_lr_pilot(
            budgets[0], one_layer_shapes(WIDTHS), registry_path, workers=workers, seed=seed,
            train=train, bootstrap=bootstrap, progress=progress,
        )  # fmt: skip
        recipe = pilot.recipe
        _say_pilot(console, pilot)
        step("lr_pilot")
    lr_source = _lr_source(recipe, pilot)
    console.print(f"3/6 IsoFLOP sweep on {workers} worker(s), fitting approaches 2 and 3")
    context = _SweepContext(
        registry_path, workers, seed, train, recipe, bootstrap, progress, max_tokens
    )
    sweep, unidentified = _sweep_until_identified(context, budgets, console)
    warnings += unidentified
    fit, runs = sweep.fit, sweep.runs
    console.print(f"4/6 law fitted on budgets {', '.join(f'{b:.2g}' for b in sweep.budgets)} FLOPs")
    if sweep.left_out:
        console.print(
            f"    left out (past {MAX_EPOCHS:g} epochs of the corpus, {max_tokens:.3g} tokens): "
            + ", ".join(sweep.left_out)
        )
    if fit.methods["approach2"].error:
        console.print(f"    [yellow]approach 2:[/] {fit.methods['approach2'].error}")
    law = sweep.law
    samples = fit.methods["approach3"].samples
    step("sweep_and_fit")
    target_flops = TARGET_MULTIPLE * sweep.budgets[-1]
    shapes = one_layer_shapes(TARGET_WIDTHS)
    choice = optimal_run(law, target_flops, shapes, max_tokens=token_cap(runs))
    n, d = choice.n_params_nonembed, choice.tokens
    names = ChinchillaLaw.parameter_names()
    bootstrap_laws = ChinchillaLaw(**{name: samples[name] for name in names})
    low, high = percentile_interval(bootstrap_laws.predict(N=n, D=d), 0.95)
    console.print(
        f"5/6 training the predicted compute-optimal run: N = {n:,} (L{choice.shape.n_layer} "
        f"d{choice.shape.d_model}), D = {d:,} tokens, C = {target_flops:.3g} FLOPs; predicted "
        f"loss {choice.predicted_loss:.4f} [{low:.4f}, {high:.4f}]"
    )
    target_design = explicit_runs(
        TARGET_NAME,
        [{"n_layer": choice.shape.n_layer, "d_model": choice.shape.d_model,
          "n_head": choice.shape.n_head, "tokens": d}],
        vocab_size=VOCAB_SIZE, n_ctx=N_CTX, seed=seed, train=train,
    )  # fmt: skip
    if recipe is not None:
        target_design = with_recipe(target_design, recipe)
    run_sweep(target_design, registry_path, workers=1, progress=progress)
    with Registry(registry_path) as registry:
        record = registry.runs(TARGET_NAME)[0]
    if record.status != "completed" or not record.summary:
        raise ScalingLabError(f"the target run ended {record.status}: {record.error}")
    measured = float(record.summary["final_val_loss"])
    step("target")
    check = TargetCheck(target_flops, n, int(record.summary["tokens"]), choice.predicted_loss,
                        (low, high), measured)  # fmt: skip
    console.print(
        f"    measured {measured:.4f}: {100 * check.rel_error:+.2f}% from the prediction, "
        f"{'inside' if check.inside else 'outside'} the 95% interval"
    )
    console.print("6/6 writing the report")
    extra = {} if pilot is None else {PILOT_FIGURE: (pilot.figure(), *PILOT_FIGURE_TEXT)}
    report = build_report(
        registry_path, SWEEP_NAME, out / "report", target=check, fit=fit, extra_figures=extra
    )
    pilot_json = None
    if pilot is not None:
        plot = out / "report" / f"{PILOT_FIGURE}.png"
        pilot_json = {**pilot.to_json_dict(), "plot": str(plot)}
    step("report")
    result = QuickstartResult(
        predicted_loss=choice.predicted_loss,
        predicted_interval=(low, high),
        measured_loss=measured,
        target_flops=target_flops,
        target_n_params_nonembed=n,
        target_tokens=int(record.summary["tokens"]),
        rel_error=check.rel_error,
        inside_interval=check.inside,
        budgets=sweep.trained,
        fit_budgets=sweep.budgets,
        sweep_runs=len(runs),
        max_sweep_tokens=max_tokens,
        left_out=sweep.left_out,
        approach2_a=fit.methods["approach2"].result.a if fit.methods["approach2"].result else None,
        approach3_params=law.params,
        wall_seconds=time.perf_counter() - start,
        seconds=seconds,
        report=str(report.html),
        registry=str(registry_path),
        precision=precision,
        lr_source=lr_source,
        lr_pilot=pilot_json,
        law_at_bounds=sweep.at_bounds,
        allocation_intervals={k: list(v) for k, v in sweep.allocation_intervals.items()},
        approaches_disagree=sweep.disagreements,
        warnings=warnings,
    )
    console.print(f"done in {result.wall_seconds:.0f} s; report: {report.html}")
    return result


def _say_pilot(console: Console, pilot: LrPilot) -> None:
    for optimum in pilot.optima:
        edge = " (at the grid edge: left out)" if optimum.at_edge else ""
        console.print(f"    N = {optimum.keys['N']:,.0f}: best lr {optimum.value:.3g}{edge}")
    if pilot.recipe is None or pilot.recipe.lr is None:
        console.print(f"    [yellow]warning:[/] {pilot.note}")
    else:
        console.print(f"    {pilot.recipe.lr.formula()} sets every later run's learning rate")
        console.print(f"    the widths' optima span {pilot.spread:.2f}x")
    for warning in pilot.warnings:
        console.print(f"    note: {warning}")


def _lr_source(recipe: Recipe | None, pilot: LrPilot | None) -> str:
    """Where the runs' learning rate came from, in words (for the JSON)."""
    if pilot is not None:
        return "pilot" if pilot.recipe is not None else "default rule (the pilot fitted no law)"
    return f"recipe {recipe.source}" if recipe is not None else "default rule"


def write_json(result: QuickstartResult, path: str | Path) -> Path:
    """Write ``result.to_json_dict()`` to ``path`` as standard JSON (an interval that
    could not be given is ``null``), whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, dumps_strict(result.to_json_dict(), indent=2))
    return path
