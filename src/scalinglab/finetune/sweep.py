"""Downstream scaling: fine-tune a ladder of models with several methods, fit error vs N.

``finetune_sweep`` runs every (model, method, seed), plus zero-shot and few-shot
prompting baselines per model, and returns:

- ``runs``: one row per run, everything measured (:class:`FinetuneResult` fields);
  with a learning-rate grid, only the runs at each (model, method)'s chosen rate;
- ``table``: the case-study table, one row per (model, method), means over seeds:
  ``n_params`` and ``n_params_nonembed`` (without embedding tables), trainable
  parameters, training seconds, inference latency p50/p95 (ms),
  throughput (examples/s at batch 64), test macro-F1 (and its spread over seeds),
  accuracy, the learning rate ``lr``;
- ``lr_grid``: with ``SweepOptions.lr_grid``, every (model, method, learning rate)
  with its validation macro-F1 (mean over seeds) and which rate was chosen: the best
  on validation, never on test (:mod:`scalinglab.finetune.lr_grid`);
- ``laws``: per method, test error ``1 - macro-F1`` (or ``1 - accuracy``) as a law of
  ``N`` (non-embedding parameters of the classifier, Kaplan's N: the truncated MiniLM
  rungs share the same 11.9M parameters of embedding tables, which would hide the differences
  in depth), ``err(N) = E + A N**-alpha``, fitted by
  :func:`scalinglab.laws.fit_law` with a bootstrap interval (:func:`bootstrap_law`,
  resampling the sizes): the fitted floor ``E``, and the error predicted at 2x and 10x
  the largest size with 95% bands, which say where gains flatten; ``x_range`` (the
  fitted sizes) and ``bootstrap_params`` (each resample's ``E, A, alpha``) let
  ``scalinglab plan --finetune-sweep`` carry the law, with its interval, to any ``N``;
- ``recommendation``: among the usable rows, the smallest model within ``f1_tolerance``
  of the best score and the best model under a latency and/or training-time budget, with
  a sentence saying why. A row is not usable when it is ``degenerate`` (it predicts one
  class, or scores below the majority-class or its model's zero-shot baseline; see
  :mod:`scalinglab.finetune.results`) or when it scores below the best baseline row;
  degenerate rows are flagged in the table and left out of the laws;
- ``laws_by_pretrain_flops``: with ``pretrained_runs`` (run folders of ``scalinglab
  train``, or a sweep's runs folder; :mod:`scalinglab.finetune.pretrained`), each
  pretrained run's ``hf/`` model is a rung of the ladder and its rows carry its
  pretraining cost (``pretrain_flops``, ``pretrain_tokens``, ``pretrain_seconds``, ...);
  per method, the test error as a law of pretraining compute,
  ``err(C) = E + A C**-alpha`` (``C`` in FLOPs), fitted and bootstrapped like the law of
  ``N`` over the non-degenerate rows that have a pretraining cost. Rows without one (the
  embedded MiniLM truncations, HF names) are left out of that law and named in its
  ``excluded``.

Every run writes its own directory under ``out_dir/runs/``. A sweep started again with
the same ``out_dir`` reuses a run only when its ``result.json`` was made by the same
settings (the hash of :mod:`scalinglab.finetune.settings`: options, data and model files,
versions); a run made by other settings is re-run, and ``reuse`` in the result says
which runs were reused, run, or re-run and what changed (a killed sweep resumes; a
changed sweep re-runs the rows it affects).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.finetune.lr_grid import LrPoint, choose_lr, grid_lrs, grid_report
from scalinglab.finetune.methods import default_lr
from scalinglab.finetune.models import LADDER
from scalinglab.finetune.pooling import DEFAULT_POOLING, POOLINGS
from scalinglab.finetune.pretrained import PRETRAIN_COLUMNS, PretrainedRung, find_pretrained_runs
from scalinglab.finetune.results import majority_baseline, warn_degenerate
from scalinglab.finetune.settings import changed_settings, run_settings, settings_key
from scalinglab.finetune.tasks import TaskOptions, load_task
from scalinglab.finetune.training import FinetuneConfig

TABLE_COLUMNS = (
    "model",
    "method",
    "n_params",
    "n_params_nonembed",
    "trainable_params",
    "train_seconds",
    "latency_ms_p50",
    "latency_ms_p95",
    "throughput_per_s",
    "macro_f1",
    "macro_f1_std",
    "accuracy",
    "seeds",
    "lr",
    "degenerate",
    "degenerate_reasons",
    *PRETRAIN_COLUMNS,
)
DEGENERACY_BASELINES = ("zero-shot",)  # besides the majority class, checked in each run
_TOO_FEW = {"n_params_nonembed": "model sizes", "pretrain_flops": "pretraining budgets"}
_NO_PRETRAINING = "no pretraining cost (not a --pretrained-runs rung)"


@dataclass(frozen=True)
class SweepOptions:
    """What to sweep and how to judge it; budgets in milliseconds and seconds.

    ``lr_grid`` (:func:`scalinglab.finetune.lr_grid.parse_lr_grid`) trains each run at
    every rate of the grid and keeps the rate best on validation; empty: one run at
    ``train.lr`` or the method's default.
    """

    models: tuple[str, ...] = LADDER
    methods: tuple[str, ...] = ("full", "lora", "bitfit")
    seeds: tuple[int, ...] = (0,)
    task: str = "tweets-binary"
    out_dir: str = "runs/finetune-sweep"
    task_options: TaskOptions = field(default_factory=TaskOptions)
    train: FinetuneConfig = field(default_factory=FinetuneConfig)
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    baselines: tuple[str, ...] = ("zero-shot", "few-shot")
    few_shot_k: int = 16
    metric: str = "macro_f1"
    f1_tolerance: float = 0.01
    latency_budget_ms: float | None = None
    train_seconds_budget: float | None = None
    bootstrap: int = 200
    latency_repeats: int = 20
    throughput_batches: int = 2
    pooling: str = DEFAULT_POOLING
    lr_grid: tuple[LrPoint, ...] = ()
    pretrained_runs: tuple[str, ...] = ()


@dataclass
class SweepResult:
    """Runs, the aggregated table, the error laws, the recommendation, what was reused.

    ``reuse`` has one entry per fine-tuning run: ``run`` (its directory name), ``action``
    (``reused``, ``ran`` or ``re-ran``) and ``changed`` (the settings that differed).
    ``lr_grid`` (empty without a grid) has one row per (model, method, learning rate):
    its validation macro-F1 over seeds and whether it was ``chosen``
    (:func:`scalinglab.finetune.lr_grid.grid_report`).
    """

    runs: list[dict[str, Any]]
    table: list[dict[str, Any]]
    laws: dict[str, dict[str, Any]]
    recommendation: dict[str, Any]
    task: dict[str, Any]
    options: dict[str, Any]
    reuse: list[dict[str, Any]] = field(default_factory=list)
    lr_grid: list[dict[str, Any]] = field(default_factory=list)
    laws_by_pretrain_flops: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def finetune_sweep(options: SweepOptions) -> SweepResult:
    """Run the sweep described by ``options`` (see the module docstring)."""
    from scalinglab.finetune.prompting import prompt_baseline
    from scalinglab.finetune.tasks import counts_table

    _check(options)
    rungs = {rung.model: rung for rung in find_pretrained_runs(options.pretrained_runs)}
    task = load_task(options.task, options.task_options)
    out = Path(options.out_dir)
    runs: list[dict[str, Any]] = []
    reuse: list[dict[str, Any]] = []
    grid: list[dict[str, Any]] = []
    for model in dict.fromkeys((*options.models, *rungs)):
        for method in options.methods:
            chosen, report = _method_runs(options, model, method, task, reuse)
            runs += [_with_pretraining(row, rungs) for row in chosen]
            grid += report
        for baseline in options.baselines:
            shots = options.few_shot_k if baseline == "few-shot" else 0
            result = prompt_baseline(
                model,
                task,
                shots=shots,
                max_length=options.train.max_length,
                seed=options.task_options.seed,
                latency_repeats=options.latency_repeats,
                throughput_batches=options.throughput_batches,
            )
            runs.append(_with_pretraining(_baseline_row(result), rungs))
    runs.append(_majority_row(task))
    flag_below_baselines(runs, options.metric)
    table = aggregate(runs, options.metric)
    laws = {
        method: error_law(
            [row for row in table if row["method"] == method and not row["degenerate"]],
            options.metric,
            options.bootstrap,
        )
        for method in options.methods
    }
    result = SweepResult(
        runs=runs,
        table=table,
        laws=laws,
        recommendation=recommend(
            [row for row in table if row["method"] in options.methods],
            options.f1_tolerance,
            options.latency_budget_ms,
            options.train_seconds_budget,
            options.metric,
            baselines=[row for row in table if row["method"] not in options.methods],
        ),
        task=counts_table(task),
        options=asdict(options),
        reuse=reuse,
        lr_grid=grid,
        laws_by_pretrain_flops=pretraining_laws(table, options) if rungs else {},
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    write_table_csv(table, out / "table.csv")
    return result


def aggregate(runs: list[dict[str, Any]], metric: str = "macro_f1") -> list[dict[str, Any]]:
    """One row per (model, method): means over seeds, ``*_std`` the spread of the metric."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["model"], run["method"]), []).append(run)
    table = []
    for (model, method), rows in groups.items():
        row: dict[str, Any] = {"model": model, "method": method, "seeds": len(rows)}
        for key in (
            "n_params",
            "n_params_nonembed",
            "trainable_params",
            "train_seconds",
            "latency_ms_p50",
            "latency_ms_p95",
            "throughput_per_s",
            "macro_f1",
            "accuracy",
            "val_macro_f1",
            "size_on_disk_bytes",
        ):
            values = [r[key] for r in rows if r.get(key) is not None]
            row[key] = float(np.mean(values)) if values else None
        for key in ("n_params", "n_params_nonembed", "trainable_params"):
            row[key] = int(row[key]) if row[key] is not None else None
        rates = {r.get("lr") for r in rows}
        row["lr"] = rates.pop() if len(rates) == 1 else None  # one rate per row (fine-tuned)
        scores = [r["macro_f1"] for r in rows]
        row["macro_f1_std"] = float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0
        row["error"] = 1.0 - row[metric]
        reasons = [
            f"seed {r['seed']}: {reason}" if len(rows) > 1 else reason
            for r in rows
            for reason in r.get("degenerate_reasons", [])
        ]
        row["degenerate"], row["degenerate_reasons"] = bool(reasons), reasons
        row.update({key: rows[0].get(key) for key in PRETRAIN_COLUMNS})
        table.append(row)
    return sorted(table, key=lambda r: (r["method"], r["n_params"]))


def error_law(
    rows: list[dict[str, Any]], metric: str, bootstrap: int, x: str = "n_params_nonembed"
) -> dict[str, Any]:
    """Fit ``error = 1 - metric`` as ``E + A x**-alpha`` over the rows of one method.

    ``x`` is the column read as the law's input: ``n_params_nonembed`` (N) by default,
    ``pretrain_flops`` for the law of pretraining compute. The predictions at "2x" and
    "10x the largest" are at twice and ten times the largest ``x``.
    """
    from scalinglab.laws import bootstrap_law, fit_law

    sizes = np.array([row[x] for row in rows], dtype=float)
    errors = np.array([row["error"] for row in rows], dtype=float)
    base = {"form": "power_offset", "x": x, "y": f"1 - {metric}", "points": len(rows)}
    if len(np.unique(sizes)) < 4:
        return {
            **base,
            "law": None,
            "note": f"needs at least 4 {_TOO_FEW.get(x, x + ' values')} to fit 3 parameters",
        }
    errors = np.maximum(errors, 1e-6)  # the fitter works on log error
    data = {"x": sizes, "loss": errors}
    fit = fit_law("power_offset", data)
    law = fit.law
    largest = float(sizes.max())
    at = {"2x_largest": 2 * largest, "10x_largest": 10 * largest}
    prediction = {name: float(law.predict(x=value)) for name, value in at.items()}
    result: dict[str, Any] = {
        **base,
        "law": law.to_dict(),
        "converged": bool(fit.converged),
        "message": fit.message,
        "warnings": list(fit.warnings),
        "parameters_at_bounds": law.parameters_at_bounds(),
        "rmse_log": float(fit.residuals.rmse),
        "predicted_error": prediction,
        "x_range": [float(sizes.min()), largest],
        "gain_from_doubling_largest": float(law.predict(x=largest) - prediction["2x_largest"]),
    }
    if bootstrap > 0:
        boot = bootstrap_law("power_offset", data, n_resamples=bootstrap, n_jobs=1, seed=0)
        intervals = boot.intervals(0.95)
        result["intervals_95"] = {k: [float(v) for v in pair] for k, pair in intervals.items()}
        bands = {}
        for name, value in at.items():
            lo, hi = boot.predict_interval(0.95, x=np.array([value]))
            bands[name] = [float(lo[0]), float(hi[0])]
        result["predicted_error_95"] = bands
        result["bootstrap_resamples"] = bootstrap
        result["ci_level"] = 0.95
        result["bootstrap_params"] = {
            name: [float(v) for v in boot.param_samples()[name]] for name in boot.names
        }
    return result


def pretraining_laws(table: list[dict[str, Any]], options: SweepOptions) -> dict[str, Any]:
    """Per method, the error law of pretraining FLOPs over the rows that have them.

    Degenerate rows and rows without a pretraining cost (the embedded MiniLM rungs, HF
    names) are left out; ``excluded`` names them and says why.
    """
    laws = {}
    for method in options.methods:
        rows = [row for row in table if row["method"] == method]
        used = [r for r in rows if r["pretrain_flops"] is not None and not r["degenerate"]]
        law = error_law(used, options.metric, options.bootstrap, x="pretrain_flops")
        law["excluded"] = [
            {"model": r["model"], "why": "degenerate" if r["degenerate"] else _NO_PRETRAINING}
            for r in rows
            if r not in used
        ]
        laws[method] = law
    return laws


def flag_below_baselines(runs: list[dict[str, Any]], metric: str = "macro_f1") -> None:
    """Add a degeneracy reason to each fine-tuned run scoring below its model's zero-shot."""
    baseline = {
        (run["model"], run["method"]): run[metric]
        for run in runs
        if run["method"] in DEGENERACY_BASELINES
    }
    for run in runs:
        if not run.get("fine_tuned"):
            continue
        for name in DEGENERACY_BASELINES:
            score = baseline.get((run["model"], name))
            if score is not None and run[metric] < score:
                run["degenerate_reasons"].append(
                    f"test {metric} {run[metric]:.4f} is below the {name} baseline's "
                    f"{score:.4f} ({run['model']})"
                )
                warn_degenerate(
                    f"{run['model']} {run['method']} seed {run['seed']}",
                    run["degenerate_reasons"][-1:],
                )


def recommend(
    rows: list[dict[str, Any]],
    tolerance: float,
    latency_budget_ms: float | None,
    train_seconds_budget: float | None,
    metric: str = "macro_f1",
    baselines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Among usable rows, the smallest within ``tolerance`` of the best; best under budgets.

    A row is usable when it is not ``degenerate`` and scores at least the best of
    ``baselines`` (majority class, zero-shot, few-shot rows). ``reason`` says why the
    recommended row was picked and which rows were left out.
    """
    floor = max(baselines or [], key=lambda r: r[metric], default=None)
    usable, excluded = [], []
    for row in rows:
        why = _unusable(row, floor, metric)
        if why:
            excluded.append({**_pick(row, metric), "why": why})
        else:
            usable.append(row)
    out: dict[str, Any] = {
        "metric": metric,
        "tolerance": tolerance,
        "best_baseline": _pick(floor, metric) if floor else None,
        "excluded": excluded,
    }
    if not usable:
        return {
            **out,
            "best": None,
            "smallest_within_tolerance": None,
            "reason": f"no recommendation: none of the {len(rows)} fine-tuned rows is usable "
            "(each is degenerate or below a baseline; see excluded)",
        }
    best = max(usable, key=lambda r: r[metric])
    near = [r for r in usable if r[metric] >= best[metric] - tolerance]
    smallest = min(near, key=lambda r: (r["n_params"], r["train_seconds"], -r[metric]))
    out.update(
        best=_pick(best, metric),
        smallest_within_tolerance=_pick(smallest, metric),
        reason=_reason(smallest, best, floor, len(usable), excluded, tolerance, metric),
    )
    if latency_budget_ms is not None or train_seconds_budget is not None:
        allowed = [
            r
            for r in usable
            if (latency_budget_ms is None or r["latency_ms_p50"] <= latency_budget_ms)
            and (train_seconds_budget is None or r["train_seconds"] <= train_seconds_budget)
        ]
        out["budget"] = {
            "latency_ms_p50": latency_budget_ms,
            "train_seconds": train_seconds_budget,
        }
        out["best_under_budget"] = (
            _pick(max(allowed, key=lambda r: r[metric]), metric) if allowed else None
        )
        if not allowed:
            out["budget"]["note"] = "no usable model meets the budget"
    return out


def _unusable(row: dict[str, Any], floor: dict[str, Any] | None, metric: str) -> str:
    """Why ``row`` may not be recommended ('' when it may)."""
    if row.get("degenerate"):
        return "degenerate: " + "; ".join(row.get("degenerate_reasons", []))
    if floor is not None and row[metric] < floor[metric]:
        return (
            f"{metric} {row[metric]:.4f} below the best baseline "
            f"({floor['model']} {floor['method']}, {floor[metric]:.4f})"
        )
    return ""


def _reason(
    pick: dict[str, Any],
    best: dict[str, Any],
    floor: dict[str, Any] | None,
    n_usable: int,
    excluded: list[dict[str, Any]],
    tolerance: float,
    metric: str,
) -> str:
    text = (
        f"{pick['model']} {pick['method']} ({pick['n_params']:,} params, {metric} "
        f"{pick[metric]:.4f}) is the smallest of {n_usable} usable rows within {tolerance} "
        f"of the best ({best['model']} {best['method']}, {best[metric]:.4f})"
    )
    if floor is not None:
        text += (
            f"; every usable row beats the best baseline ({floor['model']} "
            f"{floor['method']}, {floor[metric]:.4f})"
        )
    if excluded:
        text += f"; {len(excluded)} rows left out (degenerate or below a baseline)"
    return text


def _method_runs(
    options: SweepOptions, model: str, method: str, task: Any, reuse: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Train (or reuse) every run of one (model, method): each grid rate x each seed.

    Returns the runs at the rate chosen on validation and the grid's report rows; each
    run's reuse entry is appended to ``reuse``.
    """
    from scalinglab.finetune.run import FinetuneOptions, finetune

    out = Path(options.out_dir)
    runs_by_lr: dict[float | None, list[dict[str, Any]]] = {}
    for lr in _learning_rates(options, method):
        train = options.train if lr is None else replace(options.train, lr=lr)
        for seed in options.seeds:
            run_options = FinetuneOptions(
                model=model,
                task=options.task,
                method=method,
                out_dir=str(out / "runs" / _run_name(model, method, lr, seed)),
                method_options=options.method_options.get(method, {}),
                task_options=options.task_options,
                train=replace(train, seed=seed),
                latency_repeats=options.latency_repeats,
                throughput_batches=options.throughput_batches,
                pooling=options.pooling,
            )
            record, action = _reusable(run_options)
            if record is None:
                record = finetune(run_options, task=task).to_dict()
            reuse.append(action)
            runs_by_lr.setdefault(lr, []).append(_run_row(record, seed))
    return _chosen_runs(model, method, runs_by_lr)


def _learning_rates(options: SweepOptions, method: str) -> list[float | None]:
    """The grid's rates for ``method``; ``[None]`` without a grid (the usual single rate)."""
    if not options.lr_grid:
        return [None]
    base = options.train.lr if options.train.lr is not None else default_lr(method)
    return grid_lrs(options.lr_grid, base)


def _run_name(model: str, method: str, lr: float | None, seed: int) -> str:
    """A run's directory name; a grid's runs carry their learning rate in it."""
    name = f"{model}-{method}-s{seed}" if lr is None else f"{model}-{method}-lr{lr:g}-s{seed}"
    return name.replace("/", "_")


def _chosen_runs(
    model: str, method: str, runs_by_lr: dict[float | None, list[dict[str, Any]]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The runs (one per seed) at the rate chosen on validation, and the grid's report rows."""
    if None in runs_by_lr:  # no grid: one rate, nothing to choose
        return runs_by_lr[None], []
    chosen = choose_lr(runs_by_lr)
    return runs_by_lr[chosen], grid_report(model, method, runs_by_lr, chosen)


def _reusable(options: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The finished record of this run when its settings match, and what to say about it."""
    done = Path(options.out_dir) / "result.json"
    name = Path(options.out_dir).name
    if not done.is_file():
        return None, {"run": name, "action": "ran", "changed": []}
    record = json.loads(done.read_text())
    settings = run_settings(options)
    if record.get("settings_key") == settings_key(settings):
        return record, {"run": name, "action": "reused", "changed": []}
    if "settings" not in record:
        changed = ["no settings recorded (a result of an earlier scalinglab)"]
    else:
        changed = changed_settings(record["settings"], settings)
    return None, {"run": name, "action": "re-ran", "changed": changed}


def write_table_csv(table: list[dict[str, Any]], path: str | Path) -> Path:
    """The aggregated table as CSV (columns of :data:`TABLE_COLUMNS`)."""
    import csv

    out = Path(path)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(TABLE_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(table)
    return out


def _pick(row: dict[str, Any], metric: str) -> dict[str, Any]:
    keys = ("model", "method", "n_params", "n_params_nonembed", "train_seconds")
    keys += ("latency_ms_p50", metric)
    return {key: row[key] for key in keys}


def _with_pretraining(row: dict[str, Any], rungs: dict[str, PretrainedRung]) -> dict[str, Any]:
    """``row`` with its model's pretraining columns (``None`` for a model not pretrained here)."""
    rung = rungs.get(row["model"])
    columns = rung.columns() if rung else dict.fromkeys(PRETRAIN_COLUMNS)
    return {**row, **columns}


def _run_row(record: dict[str, Any], seed: int) -> dict[str, Any]:
    return {
        "model": record["model"],
        "method": record["method"],
        "seed": seed,
        "n_params": record["n_params"],
        "n_params_nonembed": record["n_params_nonembed"],
        "trainable_params": record["trainable_params"],
        "train_seconds": record["train_seconds"],
        "latency_ms_p50": record["latency_ms_p50"],
        "latency_ms_p95": record["latency_ms_p95"],
        "throughput_per_s": record["throughput_per_s"],
        "macro_f1": record["test"]["macro_f1"],
        "accuracy": record["test"]["accuracy"],
        "val_macro_f1": record["validation"]["macro_f1"],
        "lr": record["training"]["lr"],
        "size_on_disk_bytes": record["size_on_disk_bytes"],
        "peak_memory_bytes": record["peak_memory_bytes"],
        "out_dir": record["out_dir"],
        "fine_tuned": True,
        "degenerate_reasons": list(record.get("degenerate_reasons", [])),
    }


def _baseline_row(result: Any) -> dict[str, Any]:
    method = f"few-shot-{result.shots}" if result.shots else "zero-shot"
    return {
        "model": result.model,
        "method": method,
        "scorer": result.scorer,
        "seed": 0,
        "n_params": result.n_params,
        "n_params_nonembed": None,
        "trainable_params": 0,
        "train_seconds": result.setup_seconds,
        "latency_ms_p50": result.latency_ms_p50,
        "latency_ms_p95": result.latency_ms_p95,
        "throughput_per_s": result.throughput_per_s,
        "macro_f1": result.test["macro_f1"],
        "accuracy": result.test["accuracy"],
        "val_macro_f1": result.validation["macro_f1"],
        "size_on_disk_bytes": None,
        "fine_tuned": False,
        "degenerate_reasons": [],
    }


def _majority_row(task: Any) -> dict[str, Any]:
    """The majority-class baseline (predict the training split's most common class)."""
    test = majority_baseline(task.train, task.test, task.labels)
    validation = majority_baseline(task.train, task.validation, task.labels)
    return {
        "model": "-",
        "method": "majority-class",
        "seed": 0,
        "n_params": 0,
        "n_params_nonembed": 0,
        "trainable_params": 0,
        "train_seconds": 0.0,
        "latency_ms_p50": None,
        "latency_ms_p95": None,
        "throughput_per_s": None,
        "macro_f1": test["macro_f1"],
        "accuracy": test["accuracy"],
        "val_macro_f1": validation["macro_f1"],
        "size_on_disk_bytes": None,
        "fine_tuned": False,
        "degenerate_reasons": [],
    }


def _check(options: SweepOptions) -> None:
    from scalinglab.finetune.methods import METHODS

    unknown = [m for m in options.methods if m not in METHODS]
    if unknown:
        raise ScalingLabError(f"unknown methods {unknown}; use {', '.join(METHODS)}")
    bad = [b for b in options.baselines if b not in ("zero-shot", "few-shot")]
    if bad:
        raise ScalingLabError(f"unknown baselines {bad}; use zero-shot, few-shot")
    if options.pooling not in POOLINGS:
        raise ScalingLabError(f"unknown pooling {options.pooling!r}; use {', '.join(POOLINGS)}")
    if options.metric not in ("macro_f1", "accuracy"):
        raise ScalingLabError("metric must be macro_f1 or accuracy")
    if not (options.models or options.pretrained_runs) or not options.methods or not options.seeds:
        raise ScalingLabError(
            "give at least one model (or pretrained run), one method and one seed"
        )
    if not math.isfinite(options.f1_tolerance) or options.f1_tolerance < 0:
        raise ScalingLabError("--f1-tolerance must be a non-negative number")
    if not all(isinstance(p, LrPoint) and p.value > 0 for p in options.lr_grid):
        raise ScalingLabError(
            "lr_grid must hold positive LrPoint values; build it with parse_lr_grid('0.3x,1x,3x')"
        )
