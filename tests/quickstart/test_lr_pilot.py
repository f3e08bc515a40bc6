"""The quickstart's learning-rate pilot: grid extension at an edge, the recipe it fits,
and a real pilot on tiny models."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from scalinglab.laws.hyperparams import Optimum
from scalinglab.quickstart.lr_pilot import (
    LR_GRID,
    PILOT_NAME,
    _extensions,
    base_design,
    pilot_design,
    run_lr_pilot,
)
from scalinglab.quickstart.run import one_layer_shapes, train_options

SHAPES = one_layer_shapes((32, 48, 64))


def _optimum(n: float, value: float, tried: tuple[float, ...], at_edge: bool) -> Optimum:
    return Optimum({"N": n, "D": 1e5}, value, math.nan, math.nan, 3.0, tried, at_edge)


def test_pilot_crosses_every_width_with_every_rate():
    design = pilot_design(1e11, SHAPES, seed=0, train=train_options())
    assert design.name == PILOT_NAME
    assert len(design.runs) == len(SHAPES) * len(LR_GRID)
    by_width = {}
    for run in design.runs:
        by_width.setdefault(run.shape.d_model, set()).add(run.train["lr"])
    assert by_width == {32: set(LR_GRID), 48: set(LR_GRID), 64: set(LR_GRID)}
    assert {run.budget for run in design.runs} == {1e11}


def test_an_optimum_at_an_edge_gets_one_more_rate_beyond_it():
    base = base_design(1e11, SHAPES, seed=0, train=train_options())
    n_small, n_mid, n_large = (run.n_params_nonembed for run in base.runs)
    frame = pd.DataFrame([{"N": n, "lr": lr} for n in (n_small, n_mid, n_large) for lr in LR_GRID])
    optima = [
        _optimum(n_small, LR_GRID[-1], LR_GRID, True),  # best at the top: try 2x above
        _optimum(n_mid, 3e-3, LR_GRID, False),  # inside: nothing to add
        _optimum(n_large, LR_GRID[0], LR_GRID, True),  # best at the bottom: try 1/2 below
    ]
    runs = _extensions(base, optima, frame)
    assert {(r.n_params_nonembed, r.train["lr"]) for r in runs} == {
        (n_small, LR_GRID[-1] * 2),
        (n_large, LR_GRID[0] / 2),
    }
    assert all("-lr" in r.run_id for r in runs)


def test_a_rate_already_tried_is_not_tried_again():
    base = base_design(1e11, SHAPES, seed=0, train=train_options())
    n = base.runs[0].n_params_nonembed
    # the rate above the edge diverged (no loss, so not in `tried`) but was run
    frame = pd.DataFrame({"N": [n] * 6, "lr": [*LR_GRID, LR_GRID[-1] * 2]})
    optima = [_optimum(n, LR_GRID[-1], LR_GRID, True)]
    assert _extensions(base, optima, frame) == []


@pytest.mark.slow
def test_a_real_pilot_fits_a_law_and_reuses_its_runs(tmp_path):
    pytest.importorskip("torch")
    registry = tmp_path / "registry.db"
    options = {**train_options(), "val_tokens": 2048}
    pilot = run_lr_pilot(
        3e10, SHAPES, registry, workers=2, seed=0, train=options, bootstrap=50, progress=False
    )
    assert pilot.runs >= len(SHAPES) * len(LR_GRID)
    assert len(pilot.optima) == len(SHAPES)
    data = pilot.to_json_dict()
    assert data["grid"] == list(LR_GRID)
    for optimum in pilot.optima:
        if optimum.at_edge:
            assert optimum.value in (min(optimum.tried), max(optimum.tried))
        else:
            assert min(optimum.tried) < optimum.value < max(optimum.tried)
    if pilot.recipe is None:
        assert "default rule" in pilot.note
    else:
        assert pilot.recipe.lr is not None
        assert data["law"].startswith("lr* = ")
    plot = pilot.write_plot(tmp_path / "lr_pilot.png")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = run_lr_pilot(
        3e10, SHAPES, registry, workers=2, seed=0, train=options, bootstrap=50, progress=False
    )
    assert again.runs == pilot.runs
    assert again.frame["loss"].tolist() == pilot.frame["loss"].tolist()


def _fake_pilot(monkeypatch, losses_by_width, train=None):
    """run_lr_pilot on made-up losses (no training): ``losses_by_width`` maps a width's
    N to its losses at LR_GRID (NaN: diverged)."""
    from scalinglab.quickstart import lr_pilot

    rows = [
        {"N": n, "D": 1e6 / n, "lr": lr, "loss": loss, "run_id": f"r{n}-{lr}"}
        for n, losses in losses_by_width.items()
        for lr, loss in zip(LR_GRID, losses, strict=True)
    ]
    monkeypatch.setattr(lr_pilot, "run_sweep", lambda *args, **kwargs: None)
    monkeypatch.setattr(lr_pilot, "_pilot_frame", lambda *args: pd.DataFrame(rows))
    return run_lr_pilot(
        1e11, SHAPES, "unused.db", workers=1, seed=0, train=train or {}, bootstrap=10
    )


def _parabola_losses(best: float) -> list[float]:
    """Losses at LR_GRID of a parabola in log lr whose minimum is ``best``."""
    return [3.0 + 0.1 * math.log(lr / best) ** 2 for lr in LR_GRID]


def test_under_mup_the_pilot_gives_every_width_one_rate(monkeypatch):
    """The optima of exact parabolas are their minima; muP's law is their geometric mean,
    and the spread is the largest over the smallest."""
    best = {1e4: 3e-3, 2e4: 4e-3, 4e4: 6e-3}
    losses = {n: _parabola_losses(lr) for n, lr in best.items()}
    pilot = _fake_pilot(monkeypatch, losses, train={"parametrization": "mup"})
    assert pilot.recipe is not None
    assert pilot.recipe.lr is not None
    assert pilot.recipe.lr.exponents == {}
    expected = (3e-3 * 4e-3 * 6e-3) ** (1 / 3)
    assert pilot.recipe.learning_rate(1e4, 1e6) == pytest.approx(expected, rel=1e-6)
    assert pilot.recipe.learning_rate(1e7, 1e3) == pytest.approx(expected, rel=1e-6)
    assert pilot.spread == pytest.approx(2.0, rel=1e-6)
    data = pilot.to_json_dict()
    assert data["law"] == f"lr* = {expected:.4g}"
    assert data["exponent_N_interval"] is None
    assert data["spread"] == pytest.approx(2.0, rel=1e-6)


def test_under_sp_the_pilot_fits_a_law_of_n(monkeypatch):
    best = {1e4: 6e-3, 2e4: 4e-3, 4e4: 3e-3}
    pilot = _fake_pilot(monkeypatch, {n: _parabola_losses(lr) for n, lr in best.items()})
    assert pilot.recipe is not None
    assert pilot.recipe.lr is not None
    assert set(pilot.recipe.lr.exponents) == {"N"}
    assert pilot.recipe.lr.exponents["N"] < 0


def test_a_width_whose_rates_mostly_diverged_keeps_the_default_rule(monkeypatch):
    nan = math.nan
    losses = {1e4: [3.0, 2.9, nan, nan, nan], 2e4: [3.0, 2.8, 2.9, 3.1, 3.5]}
    pilot = _fake_pilot(monkeypatch, losses)
    assert pilot.recipe is None
    assert pilot.note.startswith("no learning-rate law (")
    assert "has 2 distinct lr value(s)" in pilot.note
    assert pilot.note.endswith("the runs keep the default rule")


def test_optima_all_at_the_edge_keep_the_default_rule(monkeypatch):
    falling = [3.5, 3.4, 3.3, 3.2, 3.1]  # best at the largest rate every time
    pilot = _fake_pilot(monkeypatch, {1e4: falling, 2e4: falling, 4e4: falling})
    assert pilot.recipe is None
    assert all(o.at_edge for o in pilot.optima)
    assert "needs 3 or more optima inside their grids; 0 usable of 3" in pilot.note
