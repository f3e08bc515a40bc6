"""``scalinglab quickstart``: sweep, fit, predict, verify and report in minutes on a CPU."""

from scalinglab.quickstart.run import QuickstartResult, run_quickstart, write_json

__all__ = ["QuickstartResult", "run_quickstart", "write_json"]
