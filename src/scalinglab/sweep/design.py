"""Sweep designs: which runs a scaling study trains (pure Python, no torch).

Four designs, each a function returning the planned runs:

- :func:`isoflop_grid` (Hoffmann et al. 2022, approach 2): for each compute budget
  ``C_i``, 5 to 9 sizes log-spaced around the optimum a prior law predicts, from
  ``N*/width`` to ``N* width``; each size gets the tokens that spend exactly ``C_i``.
- :func:`model_ladder`: a ladder of sizes, each trained on ``tokens_per_param * N`` tokens.
- :func:`wsd_design` (Hägele et al. 2024): one warmup-stable-decay run per size; cooldown
  branches from its stable phase end at several token budgets, so one run yields a loss
  for every budget at a fraction of the compute of separate runs.
- :func:`explicit_runs`: a list of shapes and token counts.

:func:`with_grid` crosses any design with hyperparameter axes (learning rate, batch size,
warmup, weight decay, ...): the runs of a learning-rate or batch-size study.
:func:`with_recipe` sets each run's learning rate and batch from fitted laws.

``N`` is Kaplan's non-embedding parameter count (as in :mod:`scalinglab.models.ladder`),
``D`` training tokens, ``C`` the exact training FLOPs of
:func:`scalinglab.models.counting.training_flops`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scalinglab.errors import ScalingLabError
from scalinglab.models.counting import count_params, tokens_for_budget, training_flops
from scalinglab.models.ladder import ladder, shape_for_params
from scalinglab.models.shape import ShapeSpec

if TYPE_CHECKING:
    from scalinglab.laws.hyperparams import Recipe

#: Chinchilla's rule of thumb, ``D* ≈ 20 N*`` (Hoffmann et al. 2022, Table 3), the prior
#: that centres an IsoFLOP grid when no law is given.
CHINCHILLA_TOKENS_PER_PARAM = 20.0
MIN_SIZES_PER_BUDGET = 5
MAX_SIZES_PER_BUDGET = 9
#: Smallest non-embedding size :func:`~scalinglab.models.ladder.shape_for_params` accepts.
MIN_PARAMS = 1e4


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep.

    ``tokens`` is ``D``; ``flops`` the exact training FLOPs ``C`` (for a WSD run, of the
    stable run to its largest budget plus every cooldown); ``budget`` the design's target
    ``C_i`` (IsoFLOP) or ``None``; ``branches`` the token budgets of WSD cooldowns (empty
    for a single run). ``config`` is what the worker trains: the fields of a
    :class:`scalinglab.train.config.TrainConfig` (shape, tokens, seed, schedule and the
    sweep's training options) plus ``branches`` for a WSD run.
    """

    run_id: str
    shape: ShapeSpec
    tokens: int
    flops: float
    budget: float | None
    schedule: str
    seed: int
    branches: tuple[int, ...] = ()
    train: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_params(self) -> int:
        return count_params(self.shape).total

    @property
    def n_params_nonembed(self) -> int:
        return count_params(self.shape).nonembed

    @property
    def config(self) -> dict[str, Any]:
        """The run's training configuration as plain JSON values (hashed by the registry)."""
        shape = self.shape
        config: dict[str, Any] = {
            **dict(self.train),
            "family": shape.family,
            "n_layer": shape.n_layer,
            "d_model": shape.d_model,
            "n_head": shape.n_head,
            "d_ff": shape.d_ff,
            "vocab_size": shape.vocab_size,
            "n_ctx": shape.n_ctx,
            "tokens": int(self.tokens),
            "seed": int(self.seed),
            "schedule": self.schedule,
        }
        if shape.n_kv_head != shape.n_head:  # only then, so MHA runs keep their registry keys
            config["n_kv_head"] = shape.n_kv_head
        if self.branches:
            config["branches"] = [int(b) for b in self.branches]
        return config


#: A sweep name: letters, digits, ``.``, ``_`` and ``-``, not starting with ``.``. The
#: name becomes a folder under the runs root and the prefix of run ids, so it must not
#: name another folder (``..``, ``/``, an absolute path) or a hidden one.
SWEEP_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
SWEEP_NAME_RULE = "use letters, digits, '.', '_' and '-', not starting with '.' and without '..'"


def sweep_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a sweep, or ``None`` when it can."""
    if not isinstance(name, str) or not SWEEP_NAME.fullmatch(name) or ".." in name:
        return f"sweep name {name!r} is not allowed"
    return None


@dataclass(frozen=True)
class SweepDesign:
    """A named set of planned runs and the options that produced them; the name is
    checked against :data:`SWEEP_NAME` (it becomes a folder)."""

    name: str
    kind: str
    runs: tuple[PlannedRun, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = sweep_name_problem(self.name)
        if problem:
            raise ScalingLabError(f"{problem}; {SWEEP_NAME_RULE}")

    @property
    def total_flops(self) -> float:
        """Sum of the exact training FLOPs of every run (FLOPs)."""
        return float(sum(run.flops for run in self.runs))

    def start_order(self) -> tuple[PlannedRun, ...]:
        """The runs in the order a sweep starts them: largest planned FLOPs first (equal
        runs in design order), so the last to start are the shortest and the workers
        finish close together (the longest-processing-time rule)."""
        return tuple(sorted(self.runs, key=lambda run: -run.flops))

    def to_dict(self) -> dict[str, Any]:
        """The design as stored in the registry: kind, options and each planned run's id,
        IsoFLOP budget, ``N`` (non-embedding), ``D``, ``C`` and WSD branches."""
        return {
            "name": self.name,
            "kind": self.kind,
            "options": dict(self.options),
            "runs": [
                {
                    "run_id": run.run_id,
                    "budget": run.budget,
                    "N": run.n_params_nonembed,
                    "D": run.tokens,
                    "C": run.flops,
                    "branches": list(run.branches),
                }
                for run in self.runs
            ],
            "total_flops": self.total_flops,
        }


@dataclass(frozen=True)
class DesignCommon:
    """The options every design builder shares, given to each as keywords
    (``isoflop_grid("iso", budgets, n_ctx=128, train={"lr": 2e-3})``).

    ``family``, ``vocab_size`` and ``n_ctx`` (tokens) make the planned shapes (``None``:
    the family's default); ``seed`` and ``schedule`` (``None``: ``cosine``; a WSD design's
    runs are always ``wsd``) are each run's; ``train`` holds training options of every run
    (fields of :class:`scalinglab.train.config.TrainConfig`: ``lr``, ``batch_size``, ...).
    """

    family: str = "gpt"
    vocab_size: int | None = None
    n_ctx: int | None = None
    seed: int = 0
    schedule: str | None = None
    train: Mapping[str, Any] | None = None

    def shape_for(self, n_params_nonembed: float) -> ShapeSpec:
        """The shape of this family with about ``n_params_nonembed`` parameters."""
        return shape_for_params(n_params_nonembed, self.family, self.vocab_size, self.n_ctx)  # type: ignore[arg-type]

    def ladder(self, n_min: float, n_max: float, count: int) -> list[ShapeSpec]:
        """``count`` shapes from ``n_min`` to ``n_max`` non-embedding parameters."""
        return ladder(n_min, n_max, count, self.family, self.vocab_size, self.n_ctx)  # type: ignore[arg-type]

    def run(self, prefix: str, shape: ShapeSpec, tokens: int, budget: float | None) -> PlannedRun:
        """One run of ``shape`` on ``tokens`` tokens (exact FLOPs), labelled from ``prefix``."""
        return PlannedRun(
            run_id=run_label(prefix, shape, tokens),
            shape=shape,
            tokens=tokens,
            flops=training_flops(shape, tokens),
            budget=budget,
            schedule=self.schedule or "cosine",
            seed=self.seed,
            train=dict(self.train or {}),
        )


def shape_name(shape: ShapeSpec) -> str:
    """``L<n_layer>d<d_model>``, the shape's part of a run id."""
    return f"L{shape.n_layer}d{shape.d_model}"


def run_label(prefix: str, shape: ShapeSpec, tokens: int) -> str:
    """A readable, stable run id: ``PREFIX-L<n_layer>d<d_model>-D<tokens>``."""
    return f"{prefix}-{shape_name(shape)}-D{tokens:.3g}".replace("+", "")


def optimal_params_prior(
    flops: float,
    tokens_per_param: float,
    family: str = "gpt",
    vocab_size: int | None = None,
    n_ctx: int | None = None,
) -> float:
    """``N*`` (non-embedding) under the prior ``D* = r N*``, with ``C`` the exact training
    FLOPs of the shape of that size: the ``N`` where ``C / flops_per_token(N) = r N``.

    For large models this is Chinchilla's ``sqrt(C / (6 r))``; for small ones the
    attention and unembedding FLOPs make a token cost far more than ``6 N``, and the
    closed form would centre the grid on models too large for the budget.
    """
    low, high = math.log(MIN_PARAMS), math.log(max(flops, MIN_PARAMS * 10))
    for _ in range(40):
        mid = 0.5 * (low + high)
        shape = shape_for_params(math.exp(mid), family, vocab_size, n_ctx)  # type: ignore[arg-type]
        n = count_params(shape).nonembed
        if flops / training_flops(shape, 1) > tokens_per_param * n:
            low = mid
        else:
            high = mid
    return math.exp(0.5 * (low + high))


def _unique_shapes(shapes: Iterable[ShapeSpec]) -> list[ShapeSpec]:
    seen: list[ShapeSpec] = []
    for shape in shapes:
        if shape not in seen:
            seen.append(shape)
    return sorted(seen, key=lambda s: count_params(s).nonembed)


def _tokens_for(shape: ShapeSpec, flops: float) -> int:
    """:func:`~scalinglab.models.counting.tokens_for_budget`, refusing a budget that buys
    no token."""
    tokens = tokens_for_budget(shape, flops)
    if tokens < 1:
        raise ScalingLabError(
            f"budget {flops:.3g} FLOPs buys no token for shape L{shape.n_layer} "
            f"d{shape.d_model}; raise the budget or lower the sizes"
        )
    return tokens


def isoflop_grid(
    name: str,
    budgets: Sequence[float],
    *,
    sizes_per_budget: int = 7,
    width: float = 4.0,
    tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM,
    optimal_params: Mapping[float, float] | None = None,
    shapes: Sequence[ShapeSpec] | None = None,
    max_tokens: float | None = None,
    **common: Any,
) -> SweepDesign:
    """An IsoFLOP grid: for each budget ``C`` (FLOPs), ``sizes_per_budget`` shapes with
    non-embedding ``N`` log-spaced from ``N*/width`` to ``N* width``, each trained on the
    tokens that spend ``C``.

    ``max_tokens`` leaves out every point that would train on more tokens than that (e.g.
    a few epochs of a small corpus, past which a law counting every token as new no
    longer describes the run); the design's ``options["left_out"]`` names them, and a
    budget left with fewer than 3 sizes is refused.

    ``N*`` comes from ``optimal_params[C]`` when given (e.g. a fitted law's
    ``compute_optimal``), else from the prior ``D* = tokens_per_param N*`` with exact
    FLOPs (:func:`optimal_params_prior`). Sizes that round to the same shape are planned
    once. ``shapes`` instead trains the same given shapes (at least 3) at every budget,
    e.g. one depth at several widths, so that only ``N`` changes along a curve.
    ``common``: the keywords of :class:`DesignCommon`.
    """
    shared = DesignCommon(**common)
    if max_tokens is not None and max_tokens <= 0:
        raise ScalingLabError(f"max_tokens must be positive, got {max_tokens}")
    if shapes is not None:
        return _fixed_shape_grid(name, budgets, shapes, shared, max_tokens)
    if not MIN_SIZES_PER_BUDGET <= sizes_per_budget <= MAX_SIZES_PER_BUDGET:
        raise ScalingLabError(
            f"sizes_per_budget must be between {MIN_SIZES_PER_BUDGET} and "
            f"{MAX_SIZES_PER_BUDGET}, got {sizes_per_budget}"
        )
    if width <= 1:
        raise ScalingLabError(f"width must be > 1 (a factor each side of N*), got {width}")
    if not budgets:
        raise ScalingLabError("an IsoFLOP grid needs at least one budget")
    runs = []
    for budget in sorted(float(b) for b in budgets):
        if optimal_params is not None and budget in optimal_params:
            centre = float(optimal_params[budget])
        else:
            centre = optimal_params_prior(
                budget, tokens_per_param, shared.family, shared.vocab_size, shared.n_ctx
            )
        if centre / width < MIN_PARAMS:
            raise ScalingLabError(
                f"budget {budget:.3g} FLOPs centres the grid at N = {centre:.3g}; its smallest "
                f"size N*/{width:g} is below {MIN_PARAMS:.0e} parameters: raise the budget or "
                "lower width"
            )
        ratio = width ** (2.0 / (sizes_per_budget - 1))
        targets = [centre / width * ratio**i for i in range(sizes_per_budget)]
        shapes = _unique_shapes(shared.shape_for(t) for t in targets)
        runs += [_isoflop_run(name, shape, budget, shared) for shape in shapes]
    options = {
        "budgets": sorted(float(b) for b in budgets),
        "sizes_per_budget": sizes_per_budget,
        "width": width,
        "tokens_per_param": tokens_per_param,
        "family": shared.family,
    }
    return _capped(SweepDesign(name, "isoflop", tuple(runs), options), max_tokens)


def _fixed_shape_grid(
    name: str,
    budgets: Sequence[float],
    shapes: Sequence[ShapeSpec],
    shared: DesignCommon,
    max_tokens: float | None,
) -> SweepDesign:
    unique = _unique_shapes(shapes)
    if len(unique) < 3:
        raise ScalingLabError(
            f"an IsoFLOP grid needs at least 3 distinct shapes per budget, got {len(unique)}"
        )
    if not budgets:
        raise ScalingLabError("an IsoFLOP grid needs at least one budget")
    runs = [
        _isoflop_run(name, shape, budget, shared)
        for budget in sorted(float(b) for b in budgets)
        for shape in unique
    ]
    options = {
        "budgets": sorted(float(b) for b in budgets),
        "shapes": [shape_name(s) for s in unique],
    }
    return _capped(SweepDesign(name, "isoflop", tuple(runs), options), max_tokens)


def _capped(design: SweepDesign, max_tokens: float | None) -> SweepDesign:
    """``design`` without its runs past ``max_tokens`` tokens (their ids in
    ``options["left_out"]``), refusing a budget left with fewer than 3 sizes."""
    if max_tokens is None:
        return design
    kept = tuple(run for run in design.runs if run.tokens <= max_tokens)
    for budget in design.options["budgets"]:
        sizes = sum(run.budget == budget for run in kept)
        if sizes < 3:
            raise ScalingLabError(
                f"budget {budget:.3g} FLOPs keeps {sizes} size(s) within max_tokens "
                f"{max_tokens:.3g}; an IsoFLOP curve needs 3: lower the budget, raise "
                "max_tokens or add larger sizes"
            )
    left_out = [run.run_id for run in design.runs if run.tokens > max_tokens]
    options = {**design.options, "max_tokens": float(max_tokens), "left_out": left_out}
    return SweepDesign(design.name, design.kind, kept, options)


def _isoflop_run(name: str, shape: ShapeSpec, budget: float, shared: DesignCommon) -> PlannedRun:
    """``shape`` trained on the tokens that spend ``budget`` FLOPs."""
    return shared.run(f"{name}-C{budget:.2g}", shape, _tokens_for(shape, budget), budget)


def model_ladder(
    name: str,
    n_min: float,
    n_max: float,
    count: int,
    *,
    tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM,
    **common: Any,
) -> SweepDesign:
    """``count`` sizes from ``n_min`` to ``n_max`` (non-embedding parameters), each
    trained on ``tokens_per_param * N`` tokens. ``common``: the keywords of
    :class:`DesignCommon`."""
    if tokens_per_param <= 0:
        raise ScalingLabError(f"tokens_per_param must be positive, got {tokens_per_param}")
    shared = DesignCommon(**common)
    runs = []
    for shape in shared.ladder(n_min, n_max, count):
        tokens = max(1, round(tokens_per_param * count_params(shape).nonembed))
        runs.append(shared.run(name, shape, tokens, None))
    options = {"n_min": n_min, "n_max": n_max, "count": count, "tokens_per_param": tokens_per_param}
    return SweepDesign(name, "ladder", tuple(runs), options)


def wsd_flops(shape: ShapeSpec, branches: Sequence[int], cooldown_fraction: float) -> float:
    """Exact FLOPs of one WSD run: the stable phase up to the largest branch's cooldown
    start, plus each branch's cooldown (``cooldown_fraction`` of its budget)."""
    largest = max(branches)
    stable = largest * (1.0 - cooldown_fraction)
    cooldowns = sum(b * cooldown_fraction for b in branches)
    return training_flops(shape, stable + cooldowns)


def wsd_design(
    name: str,
    n_min: float,
    n_max: float,
    count: int,
    *,
    tokens_per_param: Sequence[float] = (5.0, 10.0, 20.0, 40.0),
    cooldown_fraction: float = 0.2,
    shapes: Sequence[ShapeSpec] | None = None,
    **common: Any,
) -> SweepDesign:
    """One WSD run per size; cooldown branches at ``r N`` tokens for each ratio ``r`` in
    ``tokens_per_param``; each branch decays over its last ``cooldown_fraction``.

    The sizes are the ladder of ``count`` shapes from ``n_min`` to ``n_max``, or the given
    ``shapes`` (e.g. one depth at several widths), in which case those three are unused.
    ``common``: the keywords of :class:`DesignCommon` (a schedule other than ``wsd`` is
    refused)."""
    shared = DesignCommon(**common)
    if shared.schedule not in (None, "wsd"):
        raise ScalingLabError(
            f"a WSD design trains with the wsd schedule, not {shared.schedule!r}; "
            "leave the schedule out"
        )
    if not 0 < cooldown_fraction < 1:
        raise ScalingLabError(f"cooldown_fraction must be in (0, 1), got {cooldown_fraction}")
    if not tokens_per_param or min(tokens_per_param) <= 0:
        raise ScalingLabError("tokens_per_param needs at least one positive ratio")
    if shapes is not None and not shapes:
        raise ScalingLabError("a WSD design needs at least one shape")
    sizes = _unique_shapes(shapes) if shapes is not None else shared.ladder(n_min, n_max, count)
    runs = []
    for shape in sizes:
        n = count_params(shape).nonembed
        branches = tuple(sorted({max(1, round(r * n)) for r in tokens_per_param}))
        run_train = {**dict(shared.train or {}), "cooldown_fraction": cooldown_fraction}
        runs.append(
            PlannedRun(
                run_id=run_label(name, shape, branches[-1]),
                shape=shape,
                tokens=branches[-1],
                flops=wsd_flops(shape, branches, cooldown_fraction),
                budget=None,
                schedule="wsd",
                seed=shared.seed,
                branches=branches,
                train=run_train,
            )
        )
    options: dict[str, Any] = {
        "tokens_per_param": list(tokens_per_param),
        "cooldown_fraction": cooldown_fraction,
    }
    if shapes is not None:
        options["shapes"] = [shape_name(s) for s in sizes]
    else:
        options.update(n_min=n_min, n_max=n_max, count=count)
    return SweepDesign(name, "wsd", tuple(runs), options)


#: Keys of an explicit run entry that place the run (its shape and budget); every other
#: key of an entry is a training option of that run alone.
ENTRY_KEYS = frozenset(
    {
        "n_layer", "d_model", "n_head", "n_kv_head", "d_ff", "n_params", "tokens", "flops",
        "seed", "schedule",
    }
)  # fmt: skip


def explicit_runs(
    name: str,
    entries: Sequence[Mapping[str, Any]],
    **common: Any,
) -> SweepDesign:
    """Runs listed one by one. Each entry gives ``tokens`` (or ``flops``) and either a
    shape (``n_layer``, ``d_model``, optional ``n_head``, ``n_kv_head`` (grouped-query
    attention, llama), ``d_ff``) or ``n_params`` (a
    non-embedding target for :func:`~scalinglab.models.ladder.shape_for_params`); an
    entry's ``seed`` and ``schedule`` override the sweep's, and any other key (``lr``,
    ``batch_size``, ``warmup_steps``, ...) is a training option of that run that
    overrides ``train``. Which option names exist is checked by the design file reader.
    ``common``: the keywords of :class:`DesignCommon`."""
    shared = DesignCommon(**common)
    runs = []
    for index, entry in enumerate(entries):
        shape = _entry_shape(entry, index, shared)
        if "tokens" in entry:
            tokens = int(float(entry["tokens"]))
        elif "flops" in entry:
            tokens = _tokens_for(shape, float(entry["flops"]))
        else:
            raise ScalingLabError(f"run {index + 1} needs tokens or flops")
        if tokens < 1:
            raise ScalingLabError(f"run {index + 1}: tokens must be positive, got {tokens}")
        budget = float(entry["flops"]) if "flops" in entry else None
        prefix = f"{name}-{index:02d}"
        runs.append(_entry_options(entry, shared).run(prefix, shape, tokens, budget))
    if not runs:
        raise ScalingLabError("an explicit design needs at least one [[runs]] entry")
    return SweepDesign(name, "explicit", tuple(runs), {"count": len(runs)})


def with_grid(design: SweepDesign, axes: Mapping[str, Sequence[Any]]) -> SweepDesign:
    """Cross every planned run of ``design`` with every combination of training-option
    values, e.g. ``{"lr": [1e-3, 2e-3, 4e-3], "batch_size": [8, 16]}`` (six runs per
    planned run): the hyperparameter axes of a learning-rate or batch-size study.

    A grid value overrides the run's own option of that name; the run id gains one
    ``-<option><value>`` part per axis, so every combination is its own registry entry
    (the registry also hashes the whole configuration). ``tokens`` and ``flops`` do not
    change: an axis changes how a run is trained, not what it costs.
    """
    if not axes:
        return design
    names = list(axes)
    for option in names:
        values = list(axes[option])
        if not values:
            raise ScalingLabError(f"grid axis {option!r} has no values")
        if len(set(map(repr, values))) != len(values):
            raise ScalingLabError(f"grid axis {option!r} repeats a value: {values}")
    runs = [
        dataclasses.replace(
            run,
            run_id=run.run_id
            + "".join(_axis_label(o, v) for o, v in zip(names, combo, strict=True)),
            train={**dict(run.train), **dict(zip(names, combo, strict=True))},
        )
        for run in design.runs
        for combo in itertools.product(*(list(axes[o]) for o in names))
    ]
    options = {**dict(design.options), "grid": {o: list(axes[o]) for o in names}}
    return SweepDesign(design.name, design.kind, tuple(runs), options)


def _axis_label(option: str, value: Any) -> str:
    """``-lr0.004``, ``-batch_size16``: one grid coordinate in a run id."""
    text = f"{value:.3g}" if isinstance(value, float) else str(value)
    return f"-{option}{text}".replace("+", "")


def _entry_options(entry: Mapping[str, Any], shared: DesignCommon) -> DesignCommon:
    """``shared`` with an explicit entry's own seed, schedule and training options."""
    extra = {key: value for key, value in entry.items() if key not in ENTRY_KEYS}
    return dataclasses.replace(
        shared,
        seed=int(entry.get("seed", shared.seed)),
        schedule=str(entry.get("schedule", shared.schedule or "cosine")),
        train={**dict(shared.train or {}), **extra},
    )


def _entry_shape(entry: Mapping[str, Any], index: int, shared: DesignCommon) -> ShapeSpec:
    if "n_params" in entry:
        return shared.shape_for(float(entry["n_params"]))
    if "n_layer" not in entry or "d_model" not in entry:
        raise ScalingLabError(
            f"run {index + 1} needs n_layer and d_model, or n_params (non-embedding target)"
        )
    return ShapeSpec.create(
        shared.family,  # type: ignore[arg-type]
        n_layer=int(entry["n_layer"]),
        d_model=int(entry["d_model"]),
        n_head=int(entry["n_head"]) if "n_head" in entry else None,
        n_kv_head=int(entry["n_kv_head"]) if "n_kv_head" in entry else None,
        d_ff=int(entry["d_ff"]) if "d_ff" in entry else None,
        vocab_size=shared.vocab_size,
        n_ctx=shared.n_ctx,
    )


def with_recipe(design: SweepDesign, recipe: Recipe) -> SweepDesign:
    """Every run's peak learning rate from ``recipe.learning_rate(N, D)`` and global
    batch from ``recipe.batch_size(C, n_ctx)``, where the recipe has that law and the run
    does not set the option itself (a ``[train]``, ``[[runs]]`` or ``[grid]`` value
    wins). The values are written into each run's configuration, so the registry keys
    the run by the learning rate it trains at, not by the recipe's file name."""
    runs = []
    for run in design.runs:
        train = dict(run.train)
        if "lr" not in train:
            lr = recipe.learning_rate(run.n_params_nonembed, run.tokens)
            if lr is not None:
                train["lr"] = lr
        if "batch_size" not in train:
            batch = recipe.batch_size(run.flops, run.shape.n_ctx)
            if batch is not None:
                train["batch_size"] = batch
        runs.append(dataclasses.replace(run, train=train))
    options = {**dict(design.options), "recipe": recipe.source or "given"}
    return SweepDesign(design.name, design.kind, tuple(runs), options)
