"""``build_report``: a sweep's runs, fits and plots as one self-contained HTML page, the
PNG files and a Markdown summary.

The page holds every plot as a base64 PNG (no external file or network access), the
fitted laws with their bootstrap intervals, the held-out runs' predicted versus measured
loss, and the runs table. Plots: IsoFLOP curves with their parabolas (approach 2); loss
versus C with the fitted law's frontier and its 95% band, extrapolated a decade past the
largest run (approach 3; the frontier of ``scalinglab fit --plot``, at the FLOPs per
token the runs show, see :mod:`scalinglab.laws.frontier`); N* and D* versus C;
predicted versus measured loss of the held-out runs (and of a checked prediction, ``target``).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scalinglab import __version__
from scalinglab.errors import ScalingLabError
from scalinglab.laws.orchestrate import FitReport, fit_runs
from scalinglab.laws.plots import (
    LABELS,
    isoflop_curves,
    method_frontier_figure,
    plot_isoflops,
    plot_nstar,
)
from scalinglab.laws.runs_table import runs_table_from_frame
from scalinglab.registry import Registry
from scalinglab.sweep.export import runs_dataframe


@dataclass(frozen=True)
class TargetCheck:
    """A prediction checked by training: the run at ``flops`` the law chose, its
    predicted loss and 95% interval, and the loss measured (nats/token)."""

    flops: float
    n_params_nonembed: int
    tokens: int
    predicted_loss: float
    interval: tuple[float, float]
    measured_loss: float

    @property
    def rel_error(self) -> float:
        """``(measured - predicted) / predicted``."""
        return self.measured_loss / self.predicted_loss - 1.0

    @property
    def inside(self) -> bool:
        return self.interval[0] <= self.measured_loss <= self.interval[1]


@dataclass
class ReportResult:
    """Files written (``html``, ``markdown``, ``pngs``), the fit and the runs table."""

    html: Path
    markdown: Path
    pngs: list[Path]
    fit: FitReport
    runs: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def build_report(
    registry_path: str | Path,
    sweep: str,
    out_dir: str | Path,
    *,
    bootstrap: int = 200,
    holdout_largest: int = 2,
    seed: int = 0,
    target: TargetCheck | None = None,
    fit: FitReport | None = None,
    extra_figures: Mapping[str, tuple[Figure, str, str]] | None = None,
) -> ReportResult:
    """Fit the sweep's runs (every method, ``bootstrap`` resamples, the
    ``holdout_largest`` largest runs held out) unless ``fit`` is given, and write
    ``report.html``, ``report.md`` and the PNGs into ``out_dir``. ``extra_figures``
    (``name -> (figure, title, caption)``, e.g. the quickstart's learning-rate pilot)
    follow the report's own figures, each saved as ``name.png`` (a name of the report's
    own, such as ``frontier``, is refused)."""
    with Registry(registry_path) as registry:
        frame, _ = runs_dataframe(registry, sweep)
    table = runs_table_from_frame(frame, source=f"sweep {sweep}")
    runs = table.df
    if len(runs) < 5:
        raise ScalingLabError(
            f"sweep {sweep!r} has {len(runs)} usable runs; a report needs at least 5 "
            "(run `scalinglab sweep run` to finish it)"
        )
    if fit is None:
        fit = fit_runs(
            runs,
            method="all",
            bootstrap=bootstrap,
            holdout_largest=min(holdout_largest, len(runs) - 5),
            seed=seed,
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = _figures(fit, runs, target)
    clash = sorted(set(figures) & set(extra_figures or {}))
    if clash:
        raise ScalingLabError(f"extra figure {clash[0]!r} has the name of a report figure")
    figures.update(extra_figures or {})
    pngs = []
    for name, (figure, _, _) in figures.items():
        path = out / f"{name}.png"
        FigureCanvasAgg(figure)
        figure.savefig(path, dpi=110, bbox_inches="tight")
        pngs.append(path)
    warnings = [*table.warnings, *_fit_warnings(fit)]
    context = _context(sweep, registry_path, runs, fit, figures, pngs, target, warnings)
    template = (
        resources.files("scalinglab").joinpath("resources", "report", "report.html.j2").read_text()
    )
    environment = jinja2.Environment(autoescape=jinja2.select_autoescape(default=True))
    html = out / "report.html"
    html.write_text(environment.from_string(template).render(**context), encoding="utf-8")
    markdown = out / "report.md"
    markdown.write_text(_markdown(context), encoding="utf-8")
    return ReportResult(html, markdown, pngs, fit, runs, warnings)


def _fit_warnings(fit: FitReport) -> list[str]:
    out = []
    for name, method in fit.methods.items():
        if method.error:
            out.append(f"{LABELS.get(name, name)} could not be fitted: {method.error}")
    return out


def _figures(
    fit: FitReport, runs: pd.DataFrame, target: TargetCheck | None
) -> dict[str, tuple[Figure, str, str]]:
    """name -> (figure, title, caption)."""
    figures: dict[str, tuple[Figure, str, str]] = {}
    curves = isoflop_curves(fit, runs)
    if curves:
        figures["isoflop"] = (
            plot_isoflops(curves),
            "IsoFLOP curves",
            "Loss versus N at each compute budget, with the parabola in ln N fitted to each "
            "budget (approach 2) and its minimum (stars).",
        )
    figures["frontier"] = (
        _frontier_figure(fit, runs, target),
        "Loss versus compute",
        "Every run, the approach-3 law's compute-optimal frontier (at the FLOPs per token "
        "the runs show) with its 95% bootstrap band, extrapolated (dashed); held-out runs ringed.",
    )
    figures["optimal"] = (
        _optimal_figure(fit, runs),
        "N* and D* versus C",
        "Compute-optimal non-embedding parameters and tokens versus C for each approach "
        "(points: per-budget optima).",
    )
    figures["holdout"] = (
        _holdout_figure(fit, target),
        "Predicted versus measured",
        "Held-out runs (fitted without them) and the checked prediction, predicted loss "
        "against measured loss; the diagonal is a perfect prediction.",
    )
    return figures


def _new_figure(width: float = 7.0, height: float = 4.8, cols: int = 1) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    figure.subplots(1, cols)
    return figure


def _frontier_figure(fit: FitReport, runs: pd.DataFrame, target: TargetCheck | None) -> Figure:
    """``scalinglab fit --plot``'s approach-3 frontier figure (the same curve and band for
    the same fit), reaching past a checked ``target``, with the target marked."""
    high = float(runs["C"].max())
    top = max(high * 10, target.flops * 1.5 if target else 0.0)
    figure = method_frontier_figure(
        fit, runs, "approach3", extrapolate_decades=float(np.log10(top / high))
    )
    ax = figure.axes[0]
    if target is not None:
        ax.errorbar(
            [target.flops], [target.predicted_loss],
            yerr=[[target.predicted_loss - target.interval[0]],
                  [target.interval[1] - target.predicted_loss]],
            fmt="s", color="tab:red", capsize=4, label="predicted (95%)",
        )  # fmt: skip
        ax.scatter([target.flops], [target.measured_loss], marker="x", color="black", s=60,
                   zorder=5, label="measured")  # fmt: skip
    ax.legend(loc="upper right", fontsize="small")
    return figure


def _optimal_figure(fit: FitReport, runs: pd.DataFrame) -> Figure:
    figure = _new_figure(11.0, 4.4, cols=2)
    ax_n, ax_d = figure.axes
    results = fit.results
    C_range = (float(runs["C"].min()), float(runs["C"].max()))
    points = {}
    for name in ("approach1", "approach2"):
        if name in results:
            rows = [d for d in results[name].details if "N_opt" in d or "N" in d]
            points[LABELS[name]] = (
                [d["C"] for d in rows],
                [d.get("N_opt", d.get("N")) for d in rows],
            )
    plot_nstar({LABELS[k]: r.n_opt for k, r in results.items()}, points, C_range=C_range, ax=ax_n)
    grid = np.geomspace(C_range[0], C_range[1] * 10, 100)
    for name, result in results.items():
        ax_d.plot(grid, result.d_opt(grid), label=LABELS.get(name, name))
    ax_d.set_xscale("log")
    ax_d.set_yscale("log")
    ax_d.set_xlabel("C (FLOPs)")
    ax_d.set_ylabel("D* (tokens)")
    ax_d.set_title("Compute-optimal tokens")
    if results:
        ax_d.legend(fontsize="small")
    return figure


def _holdout_figure(fit: FitReport, target: TargetCheck | None) -> Figure:
    figure = _new_figure(5.6, 5.0)
    ax = figure.axes[0]
    method = fit.methods.get("approach3")
    rows = method.holdout if method is not None else []
    values: list[float] = []
    if rows:
        measured = [r["loss"] for r in rows]
        predicted = [r["predicted"] for r in rows]
        ax.scatter(measured, predicted, color="tab:blue", label="held-out runs", zorder=3)
        values += measured + predicted
    if target is not None:
        ax.errorbar(
            [target.measured_loss], [target.predicted_loss],
            yerr=[[target.predicted_loss - target.interval[0]],
                  [target.interval[1] - target.predicted_loss]],
            fmt="s", color="tab:red", capsize=4, label="checked prediction (95%)",
        )  # fmt: skip
        values += [target.measured_loss, *target.interval]
    if values:
        low, high = min(values), max(values)
        pad = 0.05 * (high - low or 1.0)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="gray", ls=":")
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no held-out runs", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("measured loss (nats/token)")
    ax.set_ylabel("predicted loss (nats/token)")
    ax.set_title("Predicted versus measured")
    return figure


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _context(
    sweep: str,
    registry_path: str | Path,
    runs: pd.DataFrame,
    fit: FitReport,
    figures: dict[str, tuple[Figure, str, str]],
    pngs: list[Path],
    target: TargetCheck | None,
    warnings: list[str],
) -> dict[str, Any]:
    fits = []
    for name, method in fit.methods.items():
        if method.result is None:
            continue
        result = method.result
        intervals = method.intervals()
        fits.append(
            {
                "label": LABELS.get(name, name),
                "a": f"{result.a:.3f}",
                "b": f"{result.b:.3f}",
                "params": ", ".join(f"{k}={_fmt(v)}" for k, v in result.params.items()),
                "ci": ", ".join(f"{k} [{lo:.4g}, {hi:.4g}]" for k, (lo, hi) in intervals.items()),
            }
        )
    rendered = []
    for (name, (_, title, caption)), path in zip(figures.items(), pngs, strict=True):
        rendered.append(
            {
                "name": name,
                "title": title,
                "caption": caption,
                "file": path.name,
                "base64": base64.b64encode(path.read_bytes()).decode("ascii"),
            }
        )
    columns = [c for c in ("run_id", "N", "D", "C", "loss", "status") if c in runs]
    shown = runs[columns].copy()
    holdout = fit.methods["approach3"].holdout if "approach3" in fit.methods else []
    buffer = io.StringIO()
    shown.to_html(buffer, index=False, float_format=lambda v: f"{v:.4g}", border=0)
    return {
        "sweep": sweep,
        "registry": str(registry_path),
        "n_runs": len(runs),
        "version": __version__,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "target": target,
        "fits": fits,
        "warnings": warnings,
        "figures": rendered,
        "holdout": holdout,
        "runs_table": buffer.getvalue(),
        "runs_markdown": shown,
    }


def _markdown(context: dict[str, Any]) -> str:
    lines = [
        f"# Scaling study: {context['sweep']}",
        "",
        f"{context['n_runs']} runs from {context['registry']}; scalinglab {context['version']}, "
        f"{context['generated']}. Loss in nats/token, C exact training FLOPs, N non-embedding "
        "parameters, D tokens.",
        "",
    ]
    target = context["target"]
    if target is not None:
        lines += [
            "## Prediction checked",
            "",
            f"At C = {target.flops:.3g} FLOPs the law chose N = {target.n_params_nonembed:,}, "
            f"D = {target.tokens:.3g}: predicted loss {target.predicted_loss:.4f} "
            f"(95% interval [{target.interval[0]:.4f}, {target.interval[1]:.4f}]), measured "
            f"{target.measured_loss:.4f} ({100 * target.rel_error:+.2f}%, "
            f"{'inside' if target.inside else 'outside'} the interval).",
            "",
        ]
    lines += ["## Fitted laws", "", "| method | a | b | parameters | 95% intervals |",
              "| --- | --- | --- | --- | --- |"]  # fmt: skip
    lines += [f"| {f['label']} | {f['a']} | {f['b']} | {f['params']} | {f['ci']} |"
              for f in context["fits"]]  # fmt: skip
    lines += ["", *[f"- {w}" for w in context["warnings"]], ""]
    lines += ["## Figures", ""]
    lines += [f"![{f['title']}]({f['file']})\n\n{f['caption']}\n" for f in context["figures"]]
    if context["holdout"]:
        lines += ["## Held-out runs", "", "| N | D | C | measured | predicted | error |",
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        lines += [
            f"| {r['N']:,.0f} | {r['D']:.3g} | {r['C']:.3g} | {r['loss']:.4f} | "
            f"{r['predicted']:.4f} | {100 * r['rel_error']:+.2f}% |"
            for r in context["holdout"]
        ]
        lines.append("")
    runs = context["runs_markdown"]
    lines += ["## Runs", "", "| " + " | ".join(runs.columns) + " |",
              "| " + " | ".join("---" for _ in runs.columns) + " |"]  # fmt: skip
    for row in runs.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
