"""Compute planning from fitted laws. Pure numpy: never imports torch (nor scipy, whose
import alone would cost most of the one-second budget of ``scalinglab plan``).

The one public call is :func:`make_plan`, which takes a :class:`PlanRequest`; see
docs/plan.md. The names load on first use
(PEP 562), so that a light submodule such as :mod:`scalinglab.plan.hardware` (the
accelerator catalogue the CLI lists in its help) imports without the planner.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "Plan": "planner",
    "PlanRequest": "request",
    "make_plan": "planner",
    "PRESETS": "presets",
}

__all__ = ["PRESETS", "Plan", "PlanRequest", "make_plan"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"scalinglab.plan.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'scalinglab.plan' has no attribute {name!r}")
