"""Laws of the best learning rate and batch size: optima by a parabola in log lr, power
laws of the optima, recipes. Expected values come from the synthetic truth the tables
are drawn from, not from the code under test."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.errors import InputError, ScalingLabError
from scalinglab.laws.hyperparams import (
    Optimum,
    Recipe,
    fit_power_law,
    fit_recipe,
    optimal_settings,
)
from scalinglab.sweep.design import model_ladder, with_recipe

#: Truth of the synthetic tables: lr*(N, D) = 0.5 N^-0.4 D^0.15.
TRUE_C, TRUE_ALPHA, TRUE_BETA = 0.5, -0.4, 0.15
CURVATURE = 0.05  # nats per (ln lr - ln lr*)^2


def true_lr(n: float, d: float) -> float:
    return TRUE_C * n**TRUE_ALPHA * d**TRUE_BETA


def lr_sweep_table(
    noise: float = 0.002,
    seed: int = 0,
    sizes=(1e5, 3e5, 1e6, 3e6),
    tokens=(2e6, 8e6, 3.2e7),
    spread: float = 1.5,
) -> pd.DataFrame:
    """Seven learning rates around the truth at each (N, D), a loss that is a parabola in
    log lr plus relative noise, and a grid offset per group so the optimum is never a
    grid point."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        for d in tokens:
            star = true_lr(n, d)
            offset = rng.uniform(-0.2, 0.2)
            for x in np.linspace(-spread, spread, 7) + offset:
                lr = star * math.exp(x)
                loss = 2.0 + 50 / n**0.3 + CURVATURE * x**2
                rows.append({"N": n, "D": d, "lr": lr, "loss": loss * (1 + noise * rng.normal())})
    return pd.DataFrame(rows)


def test_optimum_of_a_noiseless_parabola_is_exact():
    optima = optimal_settings(lr_sweep_table(noise=0.0), "lr", ("N", "D"))
    assert len(optima) == 12
    for optimum in optima:
        expected = true_lr(optimum.keys["N"], optimum.keys["D"])
        assert optimum.value == pytest.approx(expected, rel=1e-9)
        assert not optimum.at_edge


def test_optimum_intervals_cover_the_truth_under_noise():
    covered = total = 0
    for seed in range(40):  # 458 of 480 covered (95.4%), recorded in BENCHMARKS.md
        for optimum in optimal_settings(lr_sweep_table(seed=seed), "lr", ("N", "D")):
            total += 1
            covered += (
                optimum.lower <= true_lr(optimum.keys["N"], optimum.keys["D"]) <= optimum.upper
            )
    assert covered / total >= 0.9, f"{covered}/{total}"


def test_power_law_recovers_the_exponents_within_its_interval():
    optima = optimal_settings(lr_sweep_table(seed=3), "lr", ("N", "D"))
    law, warnings = fit_power_law(optima, "lr", ("N", "D"), bootstrap=500)
    assert warnings == []
    assert law.exponents["N"] == pytest.approx(TRUE_ALPHA, abs=0.03)
    assert law.exponents["D"] == pytest.approx(TRUE_BETA, abs=0.03)
    low, high = law.exponent_interval("N")
    assert low <= TRUE_ALPHA <= high
    assert law.predict(N=1e7, D=1e8) == pytest.approx(true_lr(1e7, 1e8), rel=0.1)
    assert law.decades_past(N=3e7, D=1e7) == pytest.approx(1.0)
    assert law.decades_past(N=1e6, D=1e7) == 0.0


def test_a_law_of_no_inputs_is_the_geometric_mean_of_the_optima():
    """muP's one rate: with no inputs the law is exp(mean log lr*) of the optima inside
    their grids, the same at every N and D, and its band that of a mean of n values,
    each known to a factor 2 (95%) or scattered more than that: 1.96 s / sqrt(n), with
    s the larger of the two standard deviations."""
    values = [2e-3, 3e-3, 5e-3, 4e-3]
    optima = [_optimum(n, lr, 2.0) for n, lr in zip((1e4, 3e4, 1e5, 3e5), values, strict=True)]
    edge = Optimum({"N": 1e6}, 0.1, math.nan, math.nan, 3.0, (0.1,), True, "at the edge")
    law, warnings = fit_power_law([*optima, edge], "lr", (), bootstrap=4000)
    assert law.exponents == {}
    expected = math.exp(sum(math.log(v) for v in values) / len(values))
    assert law.coefficient == pytest.approx(expected, rel=1e-12)
    assert law.predict(N=1e9, D=1e3) == pytest.approx(expected, rel=1e-12)
    assert law.formula() == f"lr* = {expected:.4g}"
    assert len(warnings) == 1
    assert "left out" in warnings[0]
    low, high = law.interval()
    sd = max(math.log(2.0) / 1.96, float(np.std(np.log(values), ddof=1)))
    reference = 1.96 * sd / math.sqrt(len(values))
    assert math.log(high / low) / 2 == pytest.approx(reference, rel=0.1)


def test_recipe_with_no_lr_inputs_gives_every_run_one_rate():
    frame = lr_sweep_table(noise=0.0)
    fit = fit_recipe(frame, lr_column="lr", bootstrap=50, lr_inputs=())
    stars = [true_lr(n, d) for n in (1e5, 3e5, 1e6, 3e6) for d in (2e6, 8e6, 3.2e7)]
    expected = math.exp(float(np.mean(np.log(stars))))
    assert fit.recipe.learning_rate(1e5, 2e6) == pytest.approx(expected, rel=1e-9)
    assert fit.recipe.learning_rate(1e8, 1e9) == pytest.approx(expected, rel=1e-9)


def _band_reference(sizes: np.ndarray, sigma: float, n0: float) -> float:
    """Half-width of the 95% band of a least-squares line in (log N, log lr) at ``n0``
    when each point has noise ``sigma``: 1.96 sigma sqrt(x0' (X'X)^-1 x0)."""
    X = np.column_stack([np.ones(len(sizes)), np.log(sizes)])
    x0 = np.array([1.0, math.log(n0)])
    return 1.96 * sigma * math.sqrt(x0 @ np.linalg.inv(X.T @ X) @ x0)


def _optimum(n: float, lr: float, factor: float) -> Optimum:
    return Optimum({"N": n}, lr, lr / factor, lr * factor, 3.0, (), False)


def test_law_interval_carries_each_optimums_own_uncertainty():
    """Three optima exactly on a power law, each known to a factor 2 (95%): the band 4x
    past the largest is the least-squares band of that noise (resampling the three
    optima alone gave zero width)."""
    sizes = np.array([1e5, 4e5, 1.6e6])
    optima = [_optimum(n, 0.01 * n**-0.3, 2.0) for n in sizes]
    law, _ = fit_power_law(optima, "lr", ("N",), bootstrap=4000)
    low, high = law.interval(N=6.4e6)
    reference = _band_reference(sizes, math.log(2.0) / 1.96, 6.4e6)
    assert math.log(high / low) / 2 == pytest.approx(reference, rel=0.1)
    assert low < law.predict(N=6.4e6) < high


def test_law_interval_carries_the_scatter_between_optima():
    """Optima located to 1% but scattered about the law: the band is that of the
    residual scatter (s^2 = residual sum of squares / (n - 2))."""
    sizes = np.array([1e5, 2e5, 4e5, 8e5, 1.6e6])
    offsets = np.array([0.2, -0.3, 0.1, 0.25, -0.25])
    lrs = 0.01 * sizes**-0.3 * np.exp(offsets)
    optima = [_optimum(n, lr, 1.01) for n, lr in zip(sizes, lrs, strict=True)]
    law, _ = fit_power_law(optima, "lr", ("N",), bootstrap=4000)
    X = np.column_stack([np.ones(5), np.log(sizes)])
    y = np.log([o.value for o in optima])
    residual = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    sigma = math.sqrt(residual @ residual / 3)
    low, high = law.interval(N=6.4e6)
    reference = _band_reference(sizes, sigma, 6.4e6)
    assert math.log(high / low) / 2 == pytest.approx(reference, rel=0.15)


def test_best_at_the_grid_edge_is_flagged_and_left_out():
    table = lr_sweep_table(noise=0.0)
    low_grid = table[~((table.N == 1e5) & (table.D == 2e6) & (table.lr < true_lr(1e5, 2e6)))]
    optima = optimal_settings(low_grid, "lr", ("N", "D"))
    edge = [o for o in optima if o.at_edge]
    assert [(o.keys["N"], o.keys["D"]) for o in edge] == [(1e5, 2e6)]
    assert "smallest value tried" in edge[0].note
    law, warnings = fit_power_law(optima, "lr", ("N", "D"), bootstrap=50)
    assert law.points == 11
    assert any("left out" in w for w in warnings)


def test_a_parabola_minimum_beyond_the_values_tried_is_flagged_at_that_edge():
    # best run inside the grid, but the curve is flat below it: the vertex lies far below
    lrs = [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2]
    losses = [4.6106, 4.6089, 4.6272, 4.6384, 4.6515]  # numpy.polyfit: vertex at 3.6e-4
    frame = pd.DataFrame({"N": 5e4, "D": 6e4, "lr": lrs, "loss": losses})
    (optimum,) = optimal_settings(frame, "lr", ("N", "D"))
    assert optimum.at_edge
    assert optimum.value == 1e-3
    assert "beyond the smallest value tried" in optimum.note
    assert math.isnan(optimum.lower)


def test_lockstep_inputs_are_dropped_with_a_warning():
    sizes = (1e5, 3e5, 1e6, 3e6)
    frames = [lr_sweep_table(sizes=(n,), tokens=(20 * n,)) for n in sizes]
    optima = optimal_settings(pd.concat(frames), "lr", ("N", "D"))
    law, warnings = fit_power_law(optima, "lr", ("N", "D"), bootstrap=50)
    assert list(law.exponents) == ["N"]
    assert law.dropped == ["D"]
    assert any("lockstep" in w for w in warnings)
    # With D = 20 N the truth is lr* = 0.5 * 20^0.15 * N^(-0.25).
    assert law.exponents["N"] == pytest.approx(TRUE_ALPHA + TRUE_BETA, abs=0.03)


def test_too_few_values_per_group_is_a_located_error():
    table = lr_sweep_table().groupby(["N", "D"]).head(2)
    with pytest.raises(InputError, match="2 distinct lr"):
        optimal_settings(table, "lr", ("N", "D"))
    with pytest.raises(InputError, match="no column 'lr'"):
        optimal_settings(table.drop(columns="lr"), "lr", ("N", "D"))


def test_law_needs_three_sizes():
    optima = optimal_settings(lr_sweep_table(sizes=(1e5, 1e6)), "lr", ("N", "D"))
    with pytest.raises(ScalingLabError, match="3 or more distinct N"):
        fit_power_law(optima, "lr", ("N", "D"))


@settings(max_examples=25, deadline=None)
@given(
    star=st.floats(1e-4, 1e-1),
    offset=st.floats(-0.4, 0.4),
    curvature=st.floats(0.005, 1.0),
)
def test_optimum_is_the_parabola_vertex_for_any_grid(star, offset, curvature):
    xs = np.linspace(-1.2, 1.2, 5) + offset
    frame = pd.DataFrame(
        {"N": 1.0, "D": 1.0, "lr": star * np.exp(xs), "loss": 3.0 + curvature * xs**2}
    )
    (optimum,) = optimal_settings(frame, "lr", ("N", "D"))
    assert optimum.value == pytest.approx(star, rel=1e-6)
    assert optimum.loss == pytest.approx(3.0, abs=1e-9)


def test_batch_law_in_tokens_from_sequences():
    rng = np.random.default_rng(0)
    rows = []
    for c in (1e15, 1e16, 1e17, 1e18):
        star = 0.29 * c**0.33  # tokens
        for x in np.linspace(-1.0, 1.0, 5) + rng.uniform(-0.1, 0.1):
            rows.append({"N": 1e6, "D": c / 6e6, "C": c, "batch_size": star * math.exp(x) / 128,
                         "n_ctx": 128, "loss": 3.0 + 0.02 * x * x})  # fmt: skip
    result = fit_recipe(pd.DataFrame(rows), lr_column=None, batch_column="batch_size")
    law = result.recipe.batch_tokens
    assert law is not None
    assert law.exponents["C"] == pytest.approx(0.33, abs=1e-6)
    assert result.recipe.batch_size(1e17, 128) == round(0.29 * 1e17**0.33 / 128)


def test_recipe_round_trip_and_design_application(tmp_path):
    result = fit_recipe(lr_sweep_table(seed=1), bootstrap=100, source="synthetic")
    path = tmp_path / "recipe.json"
    result.recipe.write(path)
    recipe = Recipe.read(path)
    assert recipe.lr is not None
    assert recipe.learning_rate(1e6, 1e7) == pytest.approx(result.recipe.learning_rate(1e6, 1e7))
    design = with_recipe(model_ladder("lad", 2e4, 2e5, 3, train={"batch_size": 8}), recipe)
    for run in design.runs:
        expected = recipe.learning_rate(run.n_params_nonembed, run.tokens)
        assert run.config["lr"] == pytest.approx(expected)
        assert run.config["batch_size"] == 8
    fixed = with_recipe(model_ladder("lad", 2e4, 2e5, 3, train={"lr": 1e-3}), recipe)
    assert {run.config["lr"] for run in fixed.runs} == {1e-3}


def test_recipe_read_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Recipe.read(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lr": 1}))
    with pytest.raises(InputError, match="not a scalinglab recipe"):
        Recipe.read(bad)


def test_recipe_cli_fit_and_show(tmp_path):
    table = tmp_path / "lr.csv"
    lr_sweep_table(seed=2).to_csv(table, index=False)
    out = tmp_path / "recipe.json"
    png = tmp_path / "lr.png"
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["recipe", "fit", str(table), "--out", str(out), "--bootstrap", "200", "--plot", str(png)],
    )
    assert result.exit_code == 0, result.output
    assert "lr* = " in result.output
    assert json.loads(out.read_text())["format"] == "scalinglab-recipe/1"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shown = runner.invoke(app, ["recipe", "show", str(out), "--n", "3e7", "--tokens", "1e8"])
    assert shown.exit_code == 0, shown.output
    assert "decades past the data" in shown.output
    as_json = runner.invoke(app, ["recipe", "fit", str(table), "--json", "--bootstrap", "50"])
    assert len(json.loads(as_json.output)["lr_optima"]) == 12


def test_recipe_cli_one_rate_writes_the_geometric_mean_of_the_optima(tmp_path):
    table = tmp_path / "lr.csv"
    lr_sweep_table(noise=0.0).to_csv(table, index=False)
    out = tmp_path / "recipe.json"
    runner = CliRunner()
    result = runner.invoke(
        app, ["recipe", "fit", str(table), "--one-rate", "--out", str(out), "--bootstrap", "50"]
    )
    assert result.exit_code == 0, result.output
    stars = [true_lr(n, d) for n in (1e5, 3e5, 1e6, 3e6) for d in (2e6, 8e6, 3.2e7)]
    expected = math.exp(float(np.mean(np.log(stars))))
    law = json.loads(out.read_text())["lr"]
    assert law["exponents"] == {}
    assert law["coefficient"] == pytest.approx(expected, rel=1e-9)
    shown = runner.invoke(app, ["recipe", "show", str(out), "--n", "3e7", "--tokens", "1e8"])
    assert shown.exit_code == 0, shown.output
    assert f"lr = {expected:.4g} " in shown.output


def test_too_few_optima_inside_their_grids_is_a_one_line_error():
    table = lr_sweep_table(noise=0.0)
    below = table[table.lr < table.apply(lambda row: true_lr(row.N, row.D), axis=1)]
    optima = optimal_settings(below, "lr", ("N", "D"))
    assert all(o.at_edge for o in optima)
    with pytest.raises(ScalingLabError, match="needs 3 or more optima inside their grids; 0"):
        fit_power_law(optima, "lr", ("N", "D"), bootstrap=10)


def test_recipe_cli_json_is_standard_json_with_null_for_a_missing_interval(tmp_path):
    table = tmp_path / "lr.csv"
    frame = lr_sweep_table(seed=2)
    edge_group = frame["N"] == frame["N"].min()
    frame.loc[edge_group, "loss"] = 3.0 - frame.loc[edge_group, "lr"]  # best at the largest lr
    frame.to_csv(table, index=False)

    def refuse(token):
        raise AssertionError(f"{token} is not standard JSON")

    result = CliRunner().invoke(app, ["recipe", "fit", str(table), "--json", "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    optima = json.loads(result.output, parse_constant=refuse)["lr_optima"]
    at_edge = [optimum for optimum in optima if optimum["at_edge"]]
    assert at_edge
    assert all(optimum["lower"] is None for optimum in at_edge)
