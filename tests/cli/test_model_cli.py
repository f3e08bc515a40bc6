"""``scalinglab model describe`` and ``scalinglab model ladder``, end to end."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.models.counting import count_params, flops_per_token
from scalinglab.models.shape import ShapeSpec

runner = CliRunner()
KEYS = {
    "n_params",
    "n_params_nonembed",
    "flops_per_token",
    "flops_per_token_6n",
    "flops_per_token_kaplan",
    "shape",
}


def test_describe_json_has_exactly_the_documented_keys_and_exact_values() -> None:
    args = "model describe --family gpt --n-layer 12 --d-model 768 --vocab 50257 --ctx 1024"
    result = runner.invoke(app, [*args.split(), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == KEYS
    assert data["n_params"] == 124_439_808  # GPT-2 small, as Hugging Face counts it
    assert data["n_params_nonembed"] == 85_056_000
    shape = ShapeSpec.from_dict(data["shape"])
    assert data["flops_per_token"] == flops_per_token(shape).exact
    assert data["flops_per_token_6n"] == 6 * 124_439_808


def test_describe_options_reach_the_shape() -> None:
    args = [
        *[
            "model",
            "describe",
            "--family",
            "bert",
            "--n-layer",
            "2",
            "--d-model",
            "96",
            "--n-head",
            "3",
            "--d-ff",
            "200",
        ],
        *["--vocab", "1000", "--ctx", "64", "--untied", "--nsp", "--json"],
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    expected = ShapeSpec("bert", 2, 96, 3, 200, 1000, 64, tied_embeddings=False, nsp=True)
    assert data["shape"] == expected.to_dict()
    assert data["n_params"] == count_params(expected).total


def test_describe_table_names_every_quantity() -> None:
    result = runner.invoke(app, ["model", "describe", "--n-layer", "2", "--d-model", "64"])
    assert result.exit_code == 0, result.output
    for key in KEYS - {"shape"}:
        assert key in result.output


def test_ladder_json_and_table() -> None:
    args = "model ladder --n-min 1e5 --n-max 3e6 --count 5 --vocab 4096"
    result = runner.invoke(app, [*args.split(), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 5
    assert all(set(row) == KEYS for row in rows)
    sizes = [row["n_params_nonembed"] for row in rows]
    assert sizes == sorted(sizes)
    assert {row["shape"]["vocab_size"] for row in rows} == {4096}
    table = runner.invoke(app, args.split())
    assert table.exit_code == 0
    assert "N_nonembed" in table.output


def test_user_errors_exit_2_with_one_line() -> None:
    for args in (
        "model describe --family gpt --n-layer 2 --d-model 100 --n-head 3",
        "model describe --family t5 --n-layer 2 --d-model 64",
        "model ladder --n-min 1e5 --n-max 1.01e5 --count 5",
    ):
        done = subprocess.run(
            [sys.executable, "-m", "scalinglab", *args.split()],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("error: ")
        assert "Traceback" not in done.stderr


def test_model_commands_do_not_import_torch() -> None:
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from scalinglab.cli.model import app\n"
        "r = CliRunner().invoke(app, 'describe --n-layer 2 --d-model 64 --json'.split())\n"
        "assert r.exit_code == 0 and 'n_params' in json.loads(r.output)\n"
        "r = CliRunner().invoke(app, 'ladder --n-min 1e5 --n-max 1e6 --count 3'.split())\n"
        "assert r.exit_code == 0\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
