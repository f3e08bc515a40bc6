"""The ``scalinglab`` command.

Each command lives in its own module under ``scalinglab.cli`` and is registered here.
Command modules import only typer and the standard library at import time, so that
``scalinglab COMMAND --help`` answers fast; heavy imports happen inside the command.
"""

from __future__ import annotations

import sys
import warnings
from typing import Annotated, TextIO

import typer

from scalinglab import __version__
from scalinglab.errors import ScalingLabWarning, as_user_error

app = typer.Typer(
    name="scalinglab",
    help="Scaling laws of language models: train ladders, fit laws, plan compute.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"scalinglab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Scaling laws of language models: train ladders, fit laws, plan compute."""


def _register_commands() -> None:
    """Attach every command; one line per command module, in the order of ``--help``."""
    from scalinglab.cli import model

    app.add_typer(model.app, name="model")
    from scalinglab.cli import fit

    app.command("fit")(fit.fit)
    from scalinglab.cli import train

    app.command("train")(train.train)
    from scalinglab.cli import data

    app.add_typer(data.data_app, name="data")
    from scalinglab.cli import finetune

    app.command("finetune")(finetune.finetune)
    from scalinglab.cli import finetune_sweep

    app.command("finetune-sweep")(finetune_sweep.finetune_sweep)
    from scalinglab.cli import predict, serve

    app.command("predict")(predict.predict)
    app.command("serve")(serve.serve)
    from scalinglab.cli import plan

    app.command("plan")(plan.plan)
    from scalinglab.cli import runs, sweep

    app.add_typer(sweep.sweep_app, name="sweep")
    app.add_typer(runs.runs_app, name="runs")
    from scalinglab.cli import recipe

    app.add_typer(recipe.recipe_app, name="recipe")
    from scalinglab.cli import report

    app.command("report")(report.report)
    from scalinglab.cli import quickstart

    app.command("quickstart")(quickstart.quickstart)


_register_commands()


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Print scalinglab's own warnings as one ``warning:`` line; others as Python does."""
    if issubclass(category, ScalingLabWarning):
        typer.secho(f"warning: {message}", err=True, fg=typer.colors.YELLOW)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def main() -> None:
    """Run the CLI; user errors (and environment errors a user must fix: a full disk, a
    file that is not UTF-8) print one line and exit 2 without a traceback."""
    warnings.showwarning = _show_warning
    try:
        app()
    except Exception as error:
        user_error = as_user_error(error)
        if user_error is None:
            raise
        typer.secho(f"error: {user_error}", err=True, fg=typer.colors.RED)
        sys.exit(user_error.exit_code)
