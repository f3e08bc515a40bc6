"""A registry holding an IsoFLOP sweep whose losses follow a known Chinchilla law (plus
1% noise), written through the registry API as the driver would: a fast, deterministic
input for report tests."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.laws.forms import ChinchillaLaw
from scalinglab.registry import Registry
from scalinglab.sweep.design import isoflop_grid
from scalinglab.sweep.runner import register_design

LAW = ChinchillaLaw(E=2.0, A=60.0, B=300.0, alpha=0.3, beta=0.32)


@pytest.fixture(scope="session")
def synthetic_registry(tmp_path_factory):
    path = tmp_path_factory.mktemp("registry") / "registry.db"
    design = isoflop_grid(
        "synthetic", [1e12, 3e12, 1e13, 3e13], sizes_per_budget=7, width=3.0,
        vocab_size=384, n_ctx=64,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    with Registry(path) as registry:
        register_design(registry, design)
        for run in design.runs:
            loss = float(LAW.predict(run.n_params_nonembed, run.tokens)) * (
                1 + 0.01 * rng.standard_normal()
            )
            registry.claim_run(run.run_id, "synthetic-driver", worker="synthetic")
            summary = {
                "status": "completed", "final_val_loss": loss, "tokens": run.tokens,
                "flops": run.flops, "flops_6nd": 6.0 * run.n_params * run.tokens,
                "n_params": run.n_params, "n_params_nonembed": run.n_params_nonembed,
                "unique_tokens": run.tokens, "epochs": 1.0, "shape": run.shape.to_dict(),
            }  # fmt: skip
            registry.finish_run(run.run_id, "completed", summary=summary)
    return path
