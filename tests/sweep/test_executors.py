"""Real tiny training runs through the local pool and a real Ray cluster on 127.0.0.1."""

from __future__ import annotations

import math

import pytest

from scalinglab.registry import Registry
from scalinglab.sweep import load_design, run_sweep

pytest.importorskip("torch")

pytestmark = pytest.mark.slow


def _losses(db, sweep):
    with Registry(db) as registry:
        return {r.run_id: (r.status, r.summary["final_val_loss"]) for r in registry.runs(sweep)}


def test_ray_cluster_gives_the_local_registry(tmp_path, tiny_design_file, ray_cluster):
    design = load_design(tiny_design_file())
    local = run_sweep(design, tmp_path / "local.db", executor="local", workers=2, progress=False)
    ray = run_sweep(
        design, tmp_path / "ray.db", executor="ray", address=ray_cluster, progress=False
    )
    assert local.counts == ray.counts == {"completed": 4}
    local_losses, ray_losses = (
        _losses(tmp_path / "local.db", "tiny"),
        _losses(tmp_path / "ray.db", "tiny"),
    )
    assert local_losses.keys() == ray_losses.keys()
    for run_id, (status, loss) in local_losses.items():
        assert status == ray_losses[run_id][0] == "completed"
        assert math.isclose(loss, ray_losses[run_id][1], rel_tol=1e-4)
    with Registry(tmp_path / "ray.db") as registry:
        runs = registry.runs("tiny")
        assert all(r.worker.startswith("ray:") for r in runs)
        assert all(r.attempts == 1 for r in runs)
        assert all(registry.evaluations(r.run_id) for r in runs)
        assert all(kind in {k for _, k in registry.artifacts(r.run_id)} for r in runs
                   for kind in ("summary", "metrics", "checkpoints"))  # fmt: skip


def test_failing_run_is_retried_then_marked_failed(tmp_path, tiny_design_file):
    path = tiny_design_file("bad")
    path.write_text(
        path.read_text().replace('cache_dir = "', 'corpus = "/no/such/corpus"\ncache_dir = "')
    )
    design = load_design(path)
    result = run_sweep(design, tmp_path / "r.db", workers=2, max_attempts=2, progress=False)
    assert len(result.failed) == 4
    with Registry(tmp_path / "r.db") as registry:
        for run in registry.runs("bad"):
            assert (run.status, run.attempts) == ("failed", 2)
            assert "no/such/corpus" in run.error


def test_wsd_run_exports_one_row_per_cooldown_branch(tmp_path, data_cache):
    from scalinglab.sweep import export_runs
    from scalinglab.sweep.designfile import design_from_dict

    design = design_from_dict(
        {
            "sweep": {"name": "wsd", "design": "wsd", "vocab_size": 384, "n_ctx": 32},
            "train": {"val_tokens": 2048, "batch_size": 8, "export_hf": False,
                      "cache_dir": str(data_cache)},
            "wsd": {"n_min": 1.3e4, "n_max": 1.3e4, "count": 1, "tokens_per_param": [1, 2]},
        }
    )  # fmt: skip
    db = tmp_path / "r.db"
    result = run_sweep(design, db, workers=1, progress=False)
    assert result.counts == {"completed": 1}
    exported = export_runs(db, "wsd", tmp_path / "runs.csv")
    assert exported.rows == 2
    import pandas as pd

    table = pd.read_csv(tmp_path / "runs.csv")
    assert table["D"].is_monotonic_increasing
    assert table["loss"].iloc[1] < table["loss"].iloc[0]
