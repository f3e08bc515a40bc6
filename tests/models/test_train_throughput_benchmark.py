"""The throughput benchmark runs end to end (tiny settings), times HF with each attention
implementation and states its ratio against the faster one and the CPU's instruction set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_throughput.py"


@pytest.mark.slow
def test_benchmark_reports_ours_and_hf(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    args = "--shapes small --dtypes fp32 bf16 --steps 1 --batch 1 --ctx 32 --vocab 512"
    subprocess.run(
        [sys.executable, str(SCRIPT), *args.split(), "--json", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    rows = json.loads(out.read_text())
    assert [row["dtype"] for row in rows] == ["fp32", "bf16"]
    assert [row["like_for_like"] for row in rows] == [True, False]
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    for row in rows:
        eager, sdpa = row["tokens_per_s_hf_eager"], row["tokens_per_s_hf_sdpa"]
        assert row["tokens_per_s_ours"] > 0
        assert min(eager, sdpa) > 0
        assert row["hf_variant"] == ("eager" if eager >= sdpa else "sdpa")
        assert row["tokens_per_s_hf"] == max(eager, sdpa)
        assert row["ratio"] == pytest.approx(row["tokens_per_s_ours"] / max(eager, sdpa))
        if flags:
            assert ("avx2" in row["isa"].split()) == ("avx2" in flags)
