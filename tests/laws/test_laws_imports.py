"""The laws package stays light: no torch ever, and scipy only once a fit is asked for."""

from __future__ import annotations

import subprocess
import sys


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_package_import_loads_neither_scipy_nor_torch():
    loaded = _loaded_after("import scalinglab.laws")
    assert not loaded & {"scipy", "torch", "pandas", "matplotlib"}


def test_fitting_api_never_loads_torch():
    loaded = _loaded_after("from scalinglab.laws import fit_runs, fit_law, bootstrap_law")
    assert "scipy" in loaded
    assert "torch" not in loaded
