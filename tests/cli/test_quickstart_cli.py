"""``scalinglab quickstart``'s options in a real process (the whole loop is measured in
BENCHMARKS.md: it takes minutes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _quickstart(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scalinglab", "quickstart", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_an_unknown_precision_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _quickstart("--precision", "fp16", "--out", str(tmp_path / "q"), cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert "--precision must be one of auto, bf16, fp32, got 'fp16'" in done.stderr
    assert not (tmp_path / "q" / "registry.db").exists()


def test_help_names_the_pilot_and_every_option(tmp_path: Path) -> None:
    done = _quickstart("--help", cwd=tmp_path)
    assert done.returncode == 0
    for option in ("--budget-minutes", "--out", "--json", "--workers", "--bootstrap",
                   "--seed", "--recipe", "--precision"):  # fmt: skip
        assert option in done.stdout
    assert "learning-rate pilot" in " ".join(done.stdout.split())
