"""Hyperparameters as sweep axes: per-run training options in ``[[runs]]``, a ``[grid]``
of option values crossed with any design, and unknown keys refused wherever they are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scalinglab.errors import InputError
from scalinglab.sweep.design import explicit_runs, model_ladder, with_grid
from scalinglab.sweep.designfile import design_from_dict

SCALINGLAB = str(Path(sys.executable).parent / "scalinglab")

SWEEP = {"name": "hp", "design": "explicit", "vocab_size": 256, "n_ctx": 32}
RUN = {"n_layer": 1, "d_model": 32, "tokens": 20_000}


def test_run_entry_options_override_the_sweeps_train_table():
    design = design_from_dict(
        {
            "sweep": SWEEP,
            "train": {"lr": 1e-3, "batch_size": 8},
            "runs": [RUN, {**RUN, "lr": 4e-3}],
        }
    )
    first, second = design.runs
    assert (first.config["lr"], second.config["lr"]) == (1e-3, 4e-3)
    assert first.config["batch_size"] == second.config["batch_size"] == 8
    assert first.run_id != second.run_id


@pytest.mark.parametrize(
    ("data", "where", "key"),
    [
        ({"sweep": SWEEP, "runs": [RUN, {**RUN, "lrr": 1e-3}]}, "[[runs]] entry 2", "lrr"),
        ({"sweep": SWEEP, "train": {"warmup": 10}, "runs": [RUN]}, "[train]", "warmup"),
        ({"sweep": SWEEP, "grid": {"learning_rate": [1e-3]}, "runs": [RUN]}, "[grid]", "learning"),
        ({"sweep": SWEEP, "grid": {"n_layer": [1, 2]}, "runs": [RUN]}, "[grid]", "'n_layer'"),
    ],
)
def test_unknown_or_reserved_keys_name_the_table_and_key(data, where, key):
    with pytest.raises(InputError) as caught:
        design_from_dict(data, source="hp.toml")
    message = str(caught.value)
    assert message.startswith("hp.toml")
    assert where in message
    assert key in message


def test_grid_crosses_every_run_with_every_combination():
    ladder = model_ladder("lad", 2e4, 8e4, 3, vocab_size=256, n_ctx=32)
    crossed = with_grid(ladder, {"lr": [1e-3, 3e-3], "batch_size": [8, 16, 32]})
    assert len(crossed.runs) == 3 * 2 * 3
    assert len({run.run_id for run in crossed.runs}) == len(crossed.runs)
    settings = {(r.shape, r.config["lr"], r.config["batch_size"]) for r in crossed.runs}
    assert len(settings) == 18
    assert crossed.total_flops == pytest.approx(6 * ladder.total_flops)
    assert crossed.options["grid"] == {"lr": [1e-3, 3e-3], "batch_size": [8, 16, 32]}


def test_grid_value_overrides_a_run_option_and_rejects_repeats():
    design = explicit_runs("x", [{**RUN, "lr": 9e-3}], vocab_size=256, n_ctx=32)
    crossed = with_grid(design, {"lr": [1e-3, 2e-3]})
    assert [r.config["lr"] for r in crossed.runs] == [1e-3, 2e-3]
    with pytest.raises(InputError, match="repeats a value"):
        design_from_dict({"sweep": SWEEP, "runs": [RUN], "grid": {"lr": [1e-3, 1e-3]}})
    with pytest.raises(InputError, match="not a list"):
        design_from_dict({"sweep": SWEEP, "runs": [RUN], "grid": {"lr": 1e-3}})


@pytest.mark.slow
def test_a_run_entrys_lr_is_the_lr_it_trains_at(tmp_path, data_cache):
    pytest.importorskip("torch")
    design = tmp_path / "lr.toml"
    design.write_text(
        "[sweep]\n"
        'name = "lr-axis"\ndesign = "explicit"\nvocab_size = 384\nn_ctx = 32\n'
        "[train]\n"
        f'val_tokens = 1024\nbatch_size = 8\nexport_hf = false\ncache_dir = "{data_cache}"\n'
        "[[runs]]\nn_layer = 1\nd_model = 32\ntokens = 5000\nlr = 0.004\n"
        "[[runs]]\nn_layer = 1\nd_model = 32\ntokens = 5000\n"
    )
    db = tmp_path / "r.db"
    completed = subprocess.run(
        [SCALINGLAB, "sweep", "run", str(design), "--registry", str(db), "--runs-dir",
         str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    folders = sorted((tmp_path / "runs").rglob("summary.json"))
    assert len(folders) == 2
    summaries = [json.loads(path.read_text()) for path in folders]
    configs = [json.loads((path.parent / "config.json").read_text()) for path in folders]
    assert summaries[0]["lr"] == configs[0]["lr"] == 0.004
    assert summaries[1]["lr"] != 0.004


@pytest.mark.slow
def test_grid_sweep_exports_the_lr_that_recipe_fit_reads(tmp_path, data_cache):
    pytest.importorskip("torch")
    from scalinglab.laws.hyperparams import optimal_settings
    from scalinglab.registry import Registry
    from scalinglab.sweep.export import runs_dataframe

    design = tmp_path / "grid.toml"
    design.write_text(
        "[sweep]\n"
        'name = "grid"\ndesign = "explicit"\nvocab_size = 384\nn_ctx = 32\n'
        "[train]\n"
        f'val_tokens = 1024\nbatch_size = 8\nexport_hf = false\ncache_dir = "{data_cache}"\n'
        "[[runs]]\nn_layer = 1\nd_model = 32\ntokens = 4000\n"
        "[[runs]]\nn_layer = 1\nd_model = 48\ntokens = 4000\n"
        "[grid]\nlr = [0.001, 0.004, 0.016]\n"
    )
    db = tmp_path / "r.db"
    completed = subprocess.run(
        [SCALINGLAB, "sweep", "run", str(design), "--registry", str(db), "--workers", "2"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    with Registry(db) as registry:
        frame, left_out = runs_dataframe(registry, "grid")
    assert left_out == {}
    assert sorted(frame["lr"].unique()) == [0.001, 0.004, 0.016]
    assert set(frame["batch_size"]) == {8}
    optima = optimal_settings(frame, "lr", ("N", "D"))
    assert [o.tried for o in optima] == [(0.001, 0.004, 0.016)] * 2
