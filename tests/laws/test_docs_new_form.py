"""The "Adding a law form" example of docs/fitting.md runs and recovers its truth."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "fitting.md"


def test_registering_a_form_in_one_module_fits_it(tmp_path):
    section = DOC.read_text(encoding="utf-8").split("## Adding a law form", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    first = done.stdout.splitlines()[0]
    assert first == "{'E': '1.7', 'Nc': '2e+10', 'Dc': '5e+11', 'aN': '0.35', 'aD': '0.3'} True"
