"""``build_casestudy_report``: a ``finetune-sweep`` (and a plan carrying it to large
sizes) as one self-contained HTML page, the PNG files and a Markdown summary.

The page is the seed case study made from measurements: the measured table (per model
and method: parameters, training seconds, latency p50/p95, throughput, macro-F1 with
its spread over seeds, degenerate flags, and the baselines), each method's fitted error
law with its 95% intervals, the sweep's recommendation and why, and, with a plan made by
``scalinglab plan --finetune-sweep``, the planned sizes with training and inference
time on the plan's hardware and the extrapolated score with its interval. Plots, as the
scaling report draws them (matplotlib, embedded as base64 PNG):

- **score versus N**: measured points with their seed spread, each method's fitted law
  with its 95% bootstrap band (dashed past the largest fine-tuned size, that region
  shaded), the baselines as horizontal lines, the plan's sizes as extrapolated points
  with their intervals, the sweep's recommended row and the plan's score-aware pick
  marked;
- **measured cost versus N**: training seconds and latency p50 (p95 as the bar) of
  every fine-tuned row, the recommended row marked;
- **planned cost versus N** (with a plan): training GPU-hours and encoder latency per
  sequence on the plan's GPU, the score-aware pick marked.

N on the score plot is the law's: non-embedding parameters of the classifier (the plan
converts its sizes, see :mod:`scalinglab.plan.downstream`); planned cost is drawn
against all parameters, the plan's sizes.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scalinglab import __version__
from scalinglab.errors import ScalingLabError
from scalinglab.io import load_json
from scalinglab.plan.downstream import SweepLaw, load_sweep_law, read_sweep_json
from scalinglab.plan.figure import size_label

_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink")
_BASELINE_STYLES = {"majority-class": ":", "zero-shot": "--"}


@dataclass
class CaseStudyResult:
    """Files written (``html``, ``markdown``, ``pngs``) and the warnings shown on the page."""

    html: Path
    markdown: Path
    pngs: list[Path]
    warnings: list[str] = field(default_factory=list)


def build_casestudy_report(
    sweep: str | Path, out_dir: str | Path, *, plan: str | Path | None = None
) -> CaseStudyResult:
    """Write ``casestudy.html``, ``casestudy.md`` and the PNGs into ``out_dir`` for the
    ``finetune-sweep`` JSON ``sweep`` and, optionally, the ``plan --finetune-sweep
    --json`` file ``plan`` (see the module docstring)."""
    data = read_sweep_json(Path(sweep))
    laws = _laws(sweep, data)
    planned = _read_plan(Path(plan)) if plan is not None else None
    warnings = [w for law in laws.values() for w in law.warnings]
    warnings += _table_warnings(data)
    if planned is not None:
        warnings += [w for w in planned["warnings"] if w not in warnings]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = {
        "casestudy-score": (
            _score_figure(data, laws, planned),
            "Fine-tuned score versus N",
            "Measured test score (points, bars: spread over seeds; crosses: degenerate rows), "
            "each method's fitted law 1 - score = E + A N^-alpha with its 95% bootstrap band "
            "(dashed and shaded past the largest fine-tuned size: extrapolation), baselines "
            "(horizontal lines), planned sizes with their 95% intervals (squares), the "
            "sweep's recommendation (ringed) and the plan's pick (star). N: the classifier's "
            "non-embedding parameters.",
        ),
        "casestudy-cost": (
            _measured_cost_figure(data),
            "Measured cost versus N",
            "Training seconds and single-text latency p50 (bar up to p95) of each fine-tuned "
            "row, measured on the sweep's machine; the recommended row ringed.",
        ),
    }
    if planned is not None:
        figures["casestudy-plan-cost"] = (
            _planned_cost_figure(planned),
            "Planned cost versus N",
            f"Training GPU-hours and encoder latency per sequence on {_gpu(planned)} "
            "(scalinglab plan: catalogue figures, MFU as stated in the plan), the score-aware "
            "pick starred. N: all parameters.",
        )
    pngs = []
    for name, (figure, _, _) in figures.items():
        path = out / f"{name}.png"
        figure.savefig(path, dpi=110, bbox_inches="tight")
        pngs.append(path)
    context = _context(sweep, plan, data, laws, planned, figures, pngs, warnings)
    template = (
        resources.files("scalinglab")
        .joinpath("resources", "report", "casestudy.html.j2")
        .read_text(encoding="utf-8")
    )
    environment = jinja2.Environment(autoescape=jinja2.select_autoescape(default=True))
    html = out / "casestudy.html"
    html.write_text(environment.from_string(template).render(**context), encoding="utf-8")
    markdown = out / "casestudy.md"
    markdown.write_text(_markdown(context), encoding="utf-8")
    return CaseStudyResult(html, markdown, pngs, warnings)


def _laws(sweep: str | Path, data: dict[str, Any]) -> dict[str, SweepLaw]:
    """Every method's fitted law (methods the sweep could not fit are skipped)."""
    laws = data.get("laws")
    if not isinstance(laws, dict) or not isinstance(data.get("table"), list):
        raise ScalingLabError(
            f"--finetune-sweep {sweep}: not a finetune-sweep result (no 'laws' and 'table'); "
            "give the sweep.json written by `scalinglab finetune-sweep`"
        )
    return {
        method: load_sweep_law(sweep, method)
        for method, entry in laws.items()
        if isinstance(entry, dict) and entry.get("law") is not None
    }


def _read_plan(path: Path) -> dict[str, Any]:
    """A ``scalinglab plan --finetune-sweep --json`` file; one line when it is not one."""
    data = load_json(path, what="plan JSON", fix="give the file of `scalinglab plan --json`")
    if not isinstance(data, dict) or not isinstance(data.get("candidates"), list):
        raise ScalingLabError(f"--plan {path}: not a plan (no candidates); give plan --json output")
    if not data.get("downstream"):
        raise ScalingLabError(
            f"--plan {path} carries no fine-tuned score; make it with "
            "`scalinglab plan --family bert --finetune-sweep SWEEP.json --json PLAN.json`"
        )
    return data


def _table_warnings(data: dict[str, Any]) -> list[str]:
    out = []
    for row in data["table"]:
        if row.get("degenerate"):
            reasons = "; ".join(row.get("degenerate_reasons", []))
            out.append(f"{row['model']} {row['method']} is degenerate: {reasons}")
    for method, entry in data["laws"].items():
        if isinstance(entry, dict) and entry.get("law") is None:
            out.append(f"no law for {method}: {entry.get('note', 'not fitted')}")
    return out


def _gpu(planned: dict[str, Any]) -> str:
    hardware = planned["hardware"]
    gpu = hardware.get("gpu")
    return "no GPU" if gpu is None else f"{hardware['gpus']} x {gpu['name']}"


def _new_figure(width: float, height: float, cols: int = 1) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    figure.subplots(1, cols)
    return figure


def _fine_tuned(data: dict[str, Any], method: str) -> list[dict[str, Any]]:
    rows = [r for r in data["table"] if r["method"] == method and r.get("n_params_nonembed")]
    return sorted(rows, key=lambda r: r["n_params_nonembed"])


def _recommended(data: dict[str, Any]) -> dict[str, Any] | None:
    return (data.get("recommendation") or {}).get("smallest_within_tolerance")


def _score_figure(
    data: dict[str, Any], laws: dict[str, SweepLaw], planned: dict[str, Any] | None
) -> Figure:
    figure = _new_figure(8.0, 5.0)
    ax = figure.axes[0]
    methods = list(data["laws"])
    metric = next(iter(laws.values())).metric if laws else "macro_f1"
    planned_n = (
        [row["downstream"]["n_params_nonembed"] for row in planned["candidates"]] if planned else []
    )
    measured_n = [r["n_params_nonembed"] for m in methods for r in _fine_tuned(data, m)]
    top = max([*planned_n, 10 * max(measured_n, default=1.0)])
    for colour, method in zip(_COLOURS * 4, methods, strict=False):
        _draw_measured(ax, _fine_tuned(data, method), metric, colour, method)
        if method in laws:
            _draw_law(ax, laws[method], min(measured_n), top, colour)
    if laws:
        largest = max(law.fitted_range[1] for law in laws.values())
        ax.axvspan(largest, top, color="0.93", zorder=0, label="extrapolation")
    _draw_baselines(ax, data, metric, methods)
    pick = _recommended(data)
    if pick is not None:
        _ring(ax, pick["n_params_nonembed"], pick[metric], 260, "sweep's recommendation")
    if planned is not None:
        _draw_planned(ax, planned)
    ax.set_ylim(bottom=_lowest(data, metric, planned) - 0.05, top=1.0)
    ax.set_xscale("log")
    ax.set_xlabel("N (non-embedding parameters of the classifier)")
    ax.set_ylabel(f"test {metric}")
    ax.set_title(f"Fine-tuned {metric} versus model size")
    ax.legend(fontsize="small", loc="lower right")
    return figure


def _draw_measured(
    ax: Any, rows: list[dict[str, Any]], metric: str, colour: str, label: str
) -> None:
    good = [r for r in rows if not r.get("degenerate")]
    bad = [r for r in rows if r.get("degenerate")]
    if good:
        ax.errorbar(
            [r["n_params_nonembed"] for r in good],
            [r[metric] for r in good],
            yerr=[r.get(f"{metric}_std") or 0.0 for r in good],
            fmt="o",
            color=colour,
            capsize=3,
            zorder=4,
            label=f"{label} (measured)",
        )
    if bad:
        ax.scatter(
            [r["n_params_nonembed"] for r in bad],
            [r[metric] for r in bad],
            marker="x",
            color=colour,
            s=60,
            zorder=4,
            label=f"{label} degenerate",
        )


def _draw_law(ax: Any, law: SweepLaw, low: float, top: float, colour: str) -> None:
    """The law's score and its band: solid over the fitted sizes, dashed beyond."""
    largest = law.fitted_range[1]
    inside = np.geomspace(low, largest, 60)
    beyond = np.geomspace(largest, top, 80)
    ax.plot(inside, law.score(inside), color=colour, label=f"{law.method} law")
    ax.plot(beyond, law.score(beyond), color=colour, ls="--")
    grid = np.concatenate([inside, beyond])
    bands = [law.score_interval(n) for n in grid]
    if all(band is not None for band in bands):
        lower, upper = np.array(bands).T
        ax.fill_between(
            grid, lower, upper, color=colour, alpha=0.15, lw=0, label=f"{law.method} 95% band"
        )


def _draw_baselines(ax: Any, data: dict[str, Any], metric: str, methods: list[str]) -> None:
    """The best row of each baseline kind (majority class, zero-shot, few-shot-k)."""
    best: dict[str, dict[str, Any]] = {}
    for row in data["table"]:
        if row["method"] in methods:
            continue
        kind = row["method"]
        if kind not in best or row[metric] > best[kind][metric]:
            best[kind] = row
    for kind, row in best.items():
        where = "" if row["model"] == "-" else f" ({row['model']})"
        ax.axhline(
            row[metric],
            color="0.4",
            ls=_BASELINE_STYLES.get(kind, "-."),
            lw=1,
            label=f"{kind}{where} {row[metric]:.3f}",
        )


def _draw_planned(ax: Any, planned: dict[str, Any]) -> None:
    rows = planned["candidates"]
    n = np.array([row["downstream"]["n_params_nonembed"] for row in rows], dtype=float)
    score = np.array([row["downstream"]["score"] for row in rows])
    intervals = [row["downstream"]["interval"] for row in rows]
    if all(interval is not None for interval in intervals):
        lower, upper = np.array(intervals).T
        yerr = np.vstack([score - lower, upper - score])
    else:
        yerr = None
    ax.errorbar(
        n,
        score,
        yerr=yerr,
        fmt="s",
        mfc="white",
        color="tab:red",
        capsize=3,
        zorder=5,
        label="planned sizes (extrapolated, 95%)",
    )
    for i, (row, x, y) in enumerate(zip(rows, n, score, strict=True)):
        ax.annotate(
            _short(row["label"]),
            (x, y),
            textcoords="offset points",
            xytext=(4, -12 if i % 2 == 0 else 6),
            fontsize="x-small",
            color="tab:red",
        )
    pick = planned["downstream"]["recommended"]["index"]
    ax.scatter(
        [n[pick]],
        [score[pick]],
        marker="*",
        s=320,
        color="gold",
        edgecolors="black",
        zorder=7,
        label=f"plan's pick: {rows[pick]['label']}",
    )


def _lowest(data: dict[str, Any], metric: str, planned: dict[str, Any] | None) -> float:
    """The lowest score a reader must see: every measured and baseline row, and the
    planned scores with their lower bounds (a wide band may reach further down)."""
    values = [row[metric] for row in data["table"] if row.get(metric) is not None]
    for row in (planned or {}).get("candidates", []):
        interval = row["downstream"]["interval"]
        values.append(row["downstream"]["score"] if interval is None else interval[0])
    return max(0.0, min(values, default=0.0))


def _short(label: str) -> str:
    """``'N* (compute-optimal)'`` -> ``'N*'``: a candidate's label without its gloss."""
    return label.split(" (")[0]


def _measured_cost_figure(data: dict[str, Any]) -> Figure:
    figure = _new_figure(11.0, 4.2, cols=2)
    ax_train, ax_latency = figure.axes
    pick = _recommended(data)
    for colour, method in zip(_COLOURS * 4, data["laws"], strict=False):
        rows = _fine_tuned(data, method)
        if not rows:
            continue
        n = [r["n_params_nonembed"] for r in rows]
        ax_train.plot(n, [r["train_seconds"] for r in rows], "o-", color=colour, label=method)
        p50 = np.array([r["latency_ms_p50"] for r in rows], dtype=float)
        p95 = np.array([r.get("latency_ms_p95") or r["latency_ms_p50"] for r in rows], dtype=float)
        ax_latency.errorbar(
            n,
            p50,
            yerr=[np.zeros_like(p50), np.maximum(p95 - p50, 0.0)],
            fmt="o-",
            color=colour,
            capsize=3,
            label=method,
        )
    if pick is not None:
        for ax, key in ((ax_train, "train_seconds"), (ax_latency, "latency_ms_p50")):
            _ring(ax, pick["n_params_nonembed"], pick[key], 220, "recommended")
    for ax, label in (
        (ax_train, "training time (s)"),
        (ax_latency, "latency p50, bar to p95 (ms)"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N (non-embedding parameters)")
        ax.set_ylabel(label)
        ax.legend(fontsize="small")
    ax_train.set_title("Fine-tuning time (measured)")
    ax_latency.set_title("Inference latency, one text (measured)")
    return figure


def _planned_cost_figure(planned: dict[str, Any]) -> Figure:
    figure = _new_figure(11.0, 4.2, cols=2)
    ax_train, ax_latency = figure.axes
    rows = planned["candidates"]
    n = np.array([row["n"] for row in rows], dtype=float)
    pick = planned["downstream"]["recommended"]["index"]
    for ax, key, label in (
        (ax_train, "train_gpu_hours", "training GPU-hours"),
        (ax_latency, "encoder_ms_per_sequence", "encoder ms per sequence"),
    ):
        values = np.array(
            [np.nan if row.get(key) is None else row[key] for row in rows], dtype=float
        )
        ax.plot(n, values, "s-", color="tab:red")
        if np.isfinite(values[pick]):
            ax.scatter(
                [n[pick]],
                [values[pick]],
                marker="*",
                s=320,
                color="gold",
                edgecolors="black",
                zorder=5,
                label=f"pick: {rows[pick]['label']}",
            )
            ax.legend(fontsize="small")
        for i, (row, x, y) in enumerate(zip(rows, n, values, strict=True)):
            ax.annotate(
                _short(row["label"]),
                (x, y),
                textcoords="offset points",
                xytext=(4, -12 if i % 2 == 0 else 6),
                fontsize="x-small",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N (all parameters)")
        ax.set_ylabel(label)
    ax_train.set_title(f"Training on {_gpu(planned)} (planned)")
    ax_latency.set_title("Inference latency (planned, roofline)")
    return figure


def _context(
    sweep: str | Path,
    plan: str | Path | None,
    data: dict[str, Any],
    laws: dict[str, SweepLaw],
    planned: dict[str, Any] | None,
    figures: dict[str, tuple[Figure, str, str]],
    pngs: list[Path],
    warnings: list[str],
) -> dict[str, Any]:
    rendered = [
        {
            "title": title,
            "caption": caption,
            "file": path.name,
            "base64": base64.b64encode(path.read_bytes()).decode("ascii"),
        }
        for (_, title, caption), path in zip(figures.values(), pngs, strict=True)
    ]
    recommendation = data.get("recommendation") or {}
    return {
        "sweep": str(sweep),
        "plan": None if plan is None else str(plan),
        "version": __version__,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "metric": next(iter(laws.values())).metric if laws else "macro_f1",
        "measured": [_measured_row(row) for row in data["table"]],
        "laws": [_law_row(law, data["laws"][method]) for method, law in laws.items()],
        "reason": recommendation.get("reason", "no recommendation in the sweep JSON"),
        "excluded": recommendation.get("excluded", []),
        "planned": _planned_rows(planned) if planned else None,
        "plan_reason": planned["downstream"]["recommended"]["reason"] if planned else None,
        "plan_gpu": _gpu(planned) if planned else None,
        "warnings": warnings,
        "figures": rendered,
    }


def _num(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _measured_row(row: dict[str, Any]) -> dict[str, str]:
    spread = f" ± {row['macro_f1_std']:.3f}" if (row.get("seeds") or 1) > 1 else ""
    return {
        "model": row["model"],
        "method": row["method"],
        "n_params": _num(row.get("n_params"), ","),
        "n_params_nonembed": _num(row.get("n_params_nonembed"), ","),
        "train_seconds": _num(row.get("train_seconds"), ".1f"),
        "p50": _num(row.get("latency_ms_p50"), ".1f"),
        "p95": _num(row.get("latency_ms_p95"), ".1f"),
        "throughput": _num(row.get("throughput_per_s"), ".0f"),
        "macro_f1": f"{row['macro_f1']:.4f}{spread}",
        "accuracy": _num(row.get("accuracy"), ".4f"),
        "seeds": str(row.get("seeds", 1)),
        "flag": "degenerate" if row.get("degenerate") else "",
    }


def _law_row(law: SweepLaw, entry: dict[str, Any]) -> dict[str, str]:
    intervals = entry.get("intervals_95") or {}
    bands = entry.get("predicted_error_95") or {}
    at_10x = entry.get("predicted_error", {}).get("10x_largest")
    band = bands.get("10x_largest")
    return {
        "method": law.method,
        "formula": law.formula(),
        "ci": ", ".join(f"{k} [{lo:.4g}, {hi:.4g}]" for k, (lo, hi) in intervals.items()),
        "fitted": f"{law.fitted_range[0]:,.0f} to {law.fitted_range[1]:,.0f} ({law.points} sizes)",
        "at_10x": "-"
        if at_10x is None
        else f"{1 - at_10x:.4f}"
        + ("" if band is None else f" [{1 - band[1]:.4f}, {1 - band[0]:.4f}]"),
        "doubling": _num(entry.get("gain_from_doubling_largest"), "+.4f"),
    }


def _planned_rows(planned: dict[str, Any]) -> list[dict[str, str]]:
    pick = planned["downstream"]["recommended"]["index"]
    rows = []
    for i, row in enumerate(planned["candidates"]):
        score = row["downstream"]
        interval = score["interval"]
        rows.append(
            {
                "pick": "*" if i == pick else "",
                "label": row["label"],
                "n": size_label(row["n"]),
                "n_nonembed": size_label(score["n_params_nonembed"]),
                "train_gpu_hours": _num(row.get("train_gpu_hours"), ",.0f"),
                "wall_hours": _num(row.get("wall_hours"), ",.1f"),
                "latency": _num(row.get("encoder_ms_per_sequence"), ".3g"),
                "inference_gpu_hours": _num(row.get("inference_gpu_hours"), ",.0f"),
                "score": f"{score['score']:.4f}",
                "interval": "-" if interval is None else f"[{interval[0]:.4f}, {interval[1]:.4f}]",
                "extrapolation": f"{score['extrapolation_x']:,.3g}x "
                f"({score['extrapolation_decades']:.1f} decades)"
                if score["extrapolated"]
                else "inside the fitted range",
                "in_budget": "yes" if row["within_budget"] else "no",
            }
        )
    return rows


def _markdown(context: dict[str, Any]) -> str:
    metric = context["metric"]
    lines = [
        "# Case study: fine-tuned score and cost versus model size",
        "",
        f"Sweep {context['sweep']}"
        + (f", plan {context['plan']}" if context["plan"] else "")
        + f"; scalinglab {context['version']}, {context['generated']}.",
        "",
        "## Measured (finetune-sweep, test split)",
        "",
        "| model | method | N | N non-emb | train s | p50 ms | p95 ms | ex/s | macro-F1 | flag |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['model']} | {r['method']} | {r['n_params']} | {r['n_params_nonembed']} | "
        f"{r['train_seconds']} | {r['p50']} | {r['p95']} | {r['throughput']} | "
        f"{r['macro_f1']} | {r['flag']} |"
        for r in context["measured"]
    ]
    lines += [
        "",
        f"Recommendation: {context['reason']}",
        "",
        "## Fitted laws",
        "",
        f"| method | law | 95% intervals | fitted N | {metric} at 10x [95%] | gain from doubling |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {law['method']} | {law['formula']} | {law['ci']} | {law['fitted']} | "
        f"{law['at_10x']} | {law['doubling']} |"
        for law in context["laws"]
    ]
    if context["planned"]:
        lines += [
            "",
            f"## Planned sizes on {context['plan_gpu']} ({metric} extrapolated)",
            "",
            f"| | size | N | N non-emb | train GPU-h | wall h | ms/seq | inference GPU-h | "
            f"{metric} | 95% | extrapolation | in budget |",
            "|" + " --- |" * 12,
        ]
        lines += [
            f"| {r['pick']} | {r['label']} | {r['n']} | {r['n_nonembed']} | "
            f"{r['train_gpu_hours']} | {r['wall_hours']} | {r['latency']} | "
            f"{r['inference_gpu_hours']} | {r['score']} | {r['interval']} | "
            f"{r['extrapolation']} | {r['in_budget']} |"
            for r in context["planned"]
        ]
        lines += ["", f"Pick: {context['plan_reason']}"]
    lines += ["", *[f"- warning: {w}" for w in context["warnings"]], "", "## Figures", ""]
    lines += [f"![{f['title']}]({f['file']})\n\n{f['caption']}\n" for f in context["figures"]]
    return "\n".join(lines) + "\n"


def _ring(ax: Any, x: float, y: float, size: float, label: str) -> None:
    """Circle the chosen row's point (an open black ring drawn above the data)."""
    ax.scatter(
        [x], [y], s=size, facecolors="none", edgecolors="black", linewidths=1.5, zorder=6,
        label=label,
    )  # fmt: skip
