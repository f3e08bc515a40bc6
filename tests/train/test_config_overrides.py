"""``scalinglab train --config FILE`` with options on the command line: the typed options
win and each override is said, never dropped silently."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.errors import ScalingLabError
from scalinglab.train.config import TrainConfig


def test_with_overrides_lists_each_changed_value():
    base = TrainConfig(lr=1e-3, batch_size=8)
    merged, changes = base.with_overrides({"lr": 2e-3, "batch_size": 8})
    assert merged.lr == 2e-3
    assert merged.batch_size == 8
    assert changes == ["lr: 0.001 -> 0.002"]
    with pytest.raises(ScalingLabError, match="unknown training option"):
        base.with_overrides({"learning_rate": 1.0})


@pytest.mark.slow
def test_command_line_lr_overrides_the_config_file(tmp_path):
    pytest.importorskip("torch")
    config = tmp_path / "run.toml"
    config.write_text(
        "[train]\nn_layer = 1\nd_model = 32\ntokens = 3000\nvocab_size = 384\nn_ctx = 32\n"
        "lr = 0.001\nbatch_size = 8\nval_tokens = 512\nexport_hf = false\n"
        f'cache_dir = "{tmp_path}"\n'
    )
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["train", "--config", str(config), "--lr", "0.003", "--out", str(out), "--quiet", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert "lr: 0.001 -> 0.003 (from the command line)" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lr"] == 0.003
    assert json.loads((out / "config.json").read_text())["lr"] == 0.003


def test_train_run_refuses_a_folder_holding_a_run_unless_resumed(tmp_path):
    """The API, not only the CLI, refuses to continue a run it was not asked to."""
    from scalinglab.train import train_run

    (tmp_path / "run" / "stable").mkdir(parents=True)  # a WSD run's stable phase
    config = TrainConfig(out_dir=str(tmp_path / "run"))
    with pytest.raises(ScalingLabError, match="already holds a run; pass --resume"):
        train_run(config)
