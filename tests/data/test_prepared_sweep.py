"""A sweep whose ``[train]`` table names prepared data trains on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scalinglab.data.corpus import load_corpus
from scalinglab.data.prepare import prepare_corpus

pytest.importorskip("torch")


def test_a_sweep_trains_on_prepared_data(tmp_path: Path) -> None:
    from scalinglab.sweep import run_sweep
    from scalinglab.sweep.designfile import design_from_dict

    text = tmp_path / "c.txt"
    text.write_text("\n\n".join(load_corpus("kjv").documents[:60]))
    out = tmp_path / "prepared"
    prepare_corpus(str(text), out, vocab_size=384, sample_bytes=50_000, workers=1)
    design = design_from_dict(
        {
            "sweep": {"name": "prepared", "design": "explicit", "vocab_size": 384, "n_ctx": 32},
            "train": {"data": str(out), "val_tokens": 1024, "batch_size": 8,
                      "export_hf": False, "device": "cpu", "peak_flops": 1e11},
            "runs": [{"n_layer": 1, "d_model": 32, "tokens": 5120}],
        }
    )  # fmt: skip
    result = run_sweep(design, tmp_path / "r.db", workers=1, progress=False)
    assert result.counts == {"completed": 1}
    configs = list(tmp_path.rglob("config.json"))
    assert len(configs) == 1
    assert json.loads(configs[0].read_text())["data"] == str(out)
