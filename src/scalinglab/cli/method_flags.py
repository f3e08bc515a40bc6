"""Command-line options generated from the registered fine-tuning methods.

Every config field of a method in :data:`scalinglab.finetune.methods.METHODS` that
carries a flag (``--lora-r``, ``--adapter-variant``, ...) becomes an option of the
commands decorated with :func:`with_method_options`; a new method's flags appear without
touching the CLI. ``scalinglab.finetune.methods`` imports no torch, so ``--help`` stays
fast.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from scalinglab.finetune.methods import METHODS, cli_options


def with_method_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` plus one option per method flag, passed to it as ``method_values``.

    ``command`` must accept ``method_values: dict`` (parameter name -> value), which
    :func:`scalinglab.finetune.methods.options_from_cli` turns into a method's options.
    """
    generated = cli_options()
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "method_values"]
    added = [
        inspect.Parameter(
            option.parameter,
            inspect.Parameter.KEYWORD_ONLY,
            default=option.default,
            annotation=Annotated[
                option.annotation,
                typer.Option(option.flag, help=f"{option.method}: {option.help}"),
            ],
        )
        for option in generated
    ]

    @functools.wraps(command)
    def wrapper(**values: Any) -> Any:
        method_values = {option.parameter: values.pop(option.parameter) for option in generated}
        return command(**values, method_values=method_values)

    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in kept] + added
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    del wrapper.__wrapped__  # typer must read the signature above, not the original's
    return wrapper


def methods_help() -> str:
    """``full (every parameter), lora (...), ...``: the registered methods, for --help."""
    return ", ".join(f"{name} ({method.trains})" for name, method in METHODS.items())
