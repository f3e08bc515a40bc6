"""A registry holding an IsoFLOP sweep whose losses follow a known Chinchilla law (plus
1% noise), written through the registry API as the driver would: a fast, deterministic
input for report tests; and a render of a report page in headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

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


@dataclass(frozen=True)
class Render:
    """A page as headless Chromium shows it: the screenshot's RGB pixels, the DOM after
    scripts ran, and the console lines it logged."""

    pixels: np.ndarray
    dom: str
    console: list[str]


def _chromium() -> str:
    """Chromium's path; without it the test skips, or fails where
    ``SCALINGLAB_REQUIRE_CHROMIUM=1`` (as ``.ci/run`` sets) says it must run."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Debian's chromium is not installed (.ci/run installs it)"
        if os.environ.get("SCALINGLAB_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"{message}, and SCALINGLAB_REQUIRE_CHROMIUM=1 requires the render")
        pytest.skip(message)
    return found


@pytest.fixture
def render_in_chromium(tmp_path):
    """``render(html_path) -> Render``: screenshot and DOM of a page in headless Chromium."""
    chromium = _chromium()

    def render(html: Path) -> Render:
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
            "--window-size=1200,2400",
        ]  # fmt: skip
        url = html.resolve().as_uri()
        shot = tmp_path / "page.png"
        shot_run = subprocess.run(
            [chromium, *flags, f"--screenshot={shot}", url],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert shot.exists(), shot_run.stderr
        dom = subprocess.run(
            [chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
        )  # fmt: skip
        console = [
            line for line in (shot_run.stderr + dom.stderr).splitlines() if "CONSOLE" in line
        ]
        return Render(imread(shot)[..., :3], dom.stdout, console)

    return render
