"""Every example in docs/plan.md runs (bash blocks through the installed CLI, Python
blocks in a fresh interpreter), each in an empty folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "plan.md"
BLOCKS = re.findall(r"```(bash|python)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("language", "code"), BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))]
)
def test_docs_example_runs(language, code, tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = ["bash", "-e", "-c", code] if language == "bash" else [sys.executable, "-c", code]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )  # the case-study block fine-tunes four small encoders: 2.5 CPU-minutes, 8 on a busy box
    assert done.returncode == 0, done.stderr[-2000:]
