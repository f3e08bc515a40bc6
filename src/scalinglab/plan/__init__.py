"""Compute planning from fitted laws. Pure numpy: never imports torch (nor scipy, whose
import alone would cost most of the one-second budget of ``scalinglab plan``).

The one public call is :func:`make_plan`; see docs/plan.md.
"""

from scalinglab.plan.planner import Plan, make_plan
from scalinglab.plan.presets import PRESETS

__all__ = ["PRESETS", "Plan", "make_plan"]
