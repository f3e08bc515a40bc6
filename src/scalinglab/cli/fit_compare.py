"""Printing of ``scalinglab fit --method all``'s comparison: allocations side by side,
disagreement warnings, and which parametric form the runs support and why.

Reads the JSON document of :meth:`scalinglab.laws.orchestrate.FitReport.to_json_dict`
(``comparison`` and ``form_selection``); the logic lives in :mod:`scalinglab.laws.compare`
and :mod:`scalinglab.laws.crossval`.
"""

from __future__ import annotations

from typing import Any


def print_comparison(console: Any, data: dict[str, Any]) -> None:
    """Print the side-by-side allocations, the disagreements and the form selection."""
    comparison, selection = data.get("comparison"), data.get("form_selection")
    if selection is not None:
        _print_selection(console, selection)
    if comparison is None:
        return
    _print_allocations(console, comparison)
    for warning in comparison["disagreements"]:
        console.print(f"[yellow]warning: {warning}[/yellow]", soft_wrap=True)
    if not comparison["disagreements"]:
        compared = ", ".join(comparison["compared"])
        console.print(
            f"{compared}: tokens per parameter within {comparison['disagree_ratio']}x of each "
            "other at every budget above",
            soft_wrap=True,
        )


def _print_allocations(console: Any, comparison: dict[str, Any]) -> None:
    from scalinglab.cli.fit import _num, _titled

    table = _titled("methods side by side: compute-optimal allocation")
    table.caption = "C: the data's largest budget and 10x, 100x it; * compared for agreement"
    for column in ("method", "a", "b", "C (FLOPs)", "N* (params)", "D* (tokens)"):
        table.add_column(column, justify="right")
    table.add_column("tokens per parameter", justify="right")
    for row in comparison["rows"]:
        mark = "*" if row["method"] in comparison["compared"] else ""
        for i, C in enumerate(comparison["budgets"]):
            first = i == 0
            table.add_row(
                f"{row['method']}{mark}" if first else "",
                f"{row['a']:.3f}" if first else "",
                f"{row['b']:.3f}" if first else "",
                f"{C:.2e}",
                _num(row["N_opt"][i]),
                _num(row["D_opt"][i]),
                f"{row['tokens_per_param'][i]:.3g}",
                end_section=i == len(comparison["budgets"]) - 1,
            )
    console.print(table)


def _print_selection(console: Any, selection: dict[str, Any]) -> None:
    from scalinglab.cli.fit import _titled

    table = _titled("parametric forms: which do the runs support?")
    for column in ("form", "parameters", "rolling validation error", "AIC", "BIC"):
        table.add_column(column, justify="right")
    for score in selection["forms"]:
        rolling = score["rolling_error"]
        table.add_row(
            score["form"],
            str(score["n_params"]),
            "-" if rolling is None else f"{rolling:.2%} ({len(score['folds'])} sizes)",
            f"{score['aic']:.1f}",
            f"{score['bic']:.1f}",
        )
    console.print(table)
    console.print(
        f"[bold]form chosen:[/bold] {selection['chosen']}: {selection['reason']}", soft_wrap=True
    )
