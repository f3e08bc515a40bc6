"""Sweep designs and the TOML design file."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.errors import InputError, ScalingLabError
from scalinglab.models.counting import training_flops
from scalinglab.models.shape import ShapeSpec
from scalinglab.sweep.design import (
    DesignCommon,
    explicit_runs,
    isoflop_grid,
    model_ladder,
    optimal_params_prior,
    wsd_design,
    wsd_flops,
)
from scalinglab.sweep.designfile import design_from_dict, load_design


def test_isoflop_grid_spends_each_budget_around_the_prior_optimum():
    budgets = [1e13, 4e13]
    design = isoflop_grid("iso", budgets, sizes_per_budget=5, width=4.0, n_ctx=128)
    for budget in budgets:
        runs = [r for r in design.runs if r.budget == budget]
        assert 4 <= len(runs) <= 5
        sizes = [r.n_params_nonembed for r in runs]
        assert sizes == sorted(sizes)
        centre = optimal_params_prior(budget, 20.0, n_ctx=128)
        assert min(sizes) < centre < max(sizes)
        assert max(sizes) / min(sizes) > 4
        for run in runs:
            assert run.flops <= budget
            assert run.flops > budget - training_flops(run.shape, 1)
    assert len({r.run_id for r in design.runs}) == len(design.runs)
    assert math.isclose(design.total_flops, sum(r.flops for r in design.runs))


def test_prior_spends_the_budget_on_twenty_tokens_per_parameter():
    from scalinglab.models.ladder import shape_for_params

    centre = optimal_params_prior(1e13, 20.0, vocab_size=512, n_ctx=64)
    shape = shape_for_params(centre, vocab_size=512, n_ctx=64)
    tokens = 1e13 / training_flops(shape, 1)
    assert 10 < tokens / centre < 40


def test_isoflop_budget_too_small_for_the_smallest_shape():
    with pytest.raises(ScalingLabError, match="raise the budget"):
        isoflop_grid("iso", [1e9], sizes_per_budget=5)


def test_isoflop_rejects_too_few_sizes():
    with pytest.raises(ScalingLabError, match="between 5 and 9"):
        isoflop_grid("iso", [1e13], sizes_per_budget=3)


def test_isoflop_grid_with_fixed_shapes_trains_each_shape_at_every_budget():
    shapes = [
        ShapeSpec.create("gpt", n_layer=1, d_model=d, n_head=d // 32, vocab_size=384, n_ctx=64)
        for d in (96, 32, 64, 64)
    ]
    design = isoflop_grid("f", [4e11, 1e11], shapes=shapes)
    assert [r.budget for r in design.runs] == [1e11] * 3 + [4e11] * 3
    assert [r.shape.d_model for r in design.runs] == [32, 64, 96] * 2
    for run in design.runs:
        assert run.flops <= run.budget < training_flops(run.shape, run.tokens + 1)
    with pytest.raises(ScalingLabError, match="at least 3 distinct shapes"):
        isoflop_grid("f", [1e11], shapes=shapes[1:])


def test_isoflop_grid_leaves_out_the_points_past_max_tokens_and_names_them():
    shapes = [
        ShapeSpec.create("gpt", n_layer=1, d_model=d, n_head=d // 32, vocab_size=384, n_ctx=64)
        for d in (32, 64, 96, 128)
    ]
    narrowest_at_large = 4e11 / training_flops(shapes[0], 1)
    cap = 0.5 * narrowest_at_large  # above d32 at 1e11 (a quarter of it), below d32 at 4e11
    design = isoflop_grid("f", [1e11, 4e11], shapes=shapes, max_tokens=cap)
    assert [(r.budget, r.shape.d_model) for r in design.runs] == [
        (1e11, 32), (1e11, 64), (1e11, 96), (1e11, 128), (4e11, 64), (4e11, 96), (4e11, 128)
    ]  # fmt: skip
    assert all(run.tokens <= cap for run in design.runs)
    assert design.options["max_tokens"] == cap
    (left_out,) = design.options["left_out"]
    assert left_out.startswith("f-C4e11-L1d32-D")
    assert left_out not in {run.run_id for run in design.runs}
    generic = isoflop_grid("g", [1e13], sizes_per_budget=5, n_ctx=128)
    capped = isoflop_grid("g", [1e13], sizes_per_budget=5, n_ctx=128, max_tokens=1e12)
    assert capped.runs == generic.runs
    assert capped.options["left_out"] == []


def test_isoflop_grid_refuses_a_cap_that_leaves_a_budget_fewer_than_three_sizes():
    shapes = [
        ShapeSpec.create("gpt", n_layer=1, d_model=d, n_head=d // 32, vocab_size=384, n_ctx=64)
        for d in (32, 64, 96)
    ]
    with pytest.raises(ScalingLabError, match="budget 4e\\+11 FLOPs keeps 2 size"):
        isoflop_grid("f", [4e11], shapes=shapes, max_tokens=4e11 / training_flops(shapes[0], 1) / 2)
    with pytest.raises(ScalingLabError, match="max_tokens must be positive"):
        isoflop_grid("f", [4e11], shapes=shapes, max_tokens=0)


def test_ladder_uses_fixed_tokens_per_param():
    design = model_ladder("lad", 2e4, 2e5, 4, tokens_per_param=10)
    for run in design.runs:
        assert run.tokens == round(10 * run.n_params_nonembed)
        assert run.config["tokens"] == run.tokens


def test_wsd_branches_and_cost_below_separate_runs():
    design = wsd_design("wsd", 2e4, 1e5, 3, tokens_per_param=(5, 10, 20), cooldown_fraction=0.2)
    for run in design.runs:
        assert len(run.branches) == 3
        assert run.config["branches"] == list(run.branches)
        assert run.schedule == "wsd"
        separate = sum(training_flops(run.shape, b) for b in run.branches)
        assert run.flops == wsd_flops(run.shape, run.branches, 0.2)
        assert run.flops < separate


def test_wsd_design_takes_given_shapes_instead_of_the_ladder():
    shapes = [
        ShapeSpec.create("gpt", n_layer=1, d_model=d, n_head=d // 32, vocab_size=384, n_ctx=64)
        for d in (96, 64, 64)
    ]
    design = wsd_design("wsd", 0, 0, 0, shapes=shapes, tokens_per_param=(10, 20))
    assert [run.shape.d_model for run in design.runs] == [64, 96]
    assert design.options["shapes"] == ["L1d64", "L1d96"]
    for run in design.runs:
        assert run.branches == tuple(round(r * run.n_params_nonembed) for r in (10, 20))
    with pytest.raises(ScalingLabError, match="at least one shape"):
        wsd_design("wsd", 0, 0, 0, shapes=[])


def test_explicit_runs_accept_shape_or_size():
    design = explicit_runs(
        "ex",
        [
            {"n_layer": 2, "d_model": 64, "tokens": 1000, "seed": 3},
            {"n_params": 5e4, "flops": 1e11},
        ],
    )
    assert design.runs[0].seed == 3
    assert design.runs[0].shape.n_layer == 2
    assert design.runs[1].flops <= 1e11


COMMON = {
    "family": "llama",
    "vocab_size": 300,
    "n_ctx": 48,
    "seed": 7,
    "schedule": "linear",
    "train": {"lr": 3e-3},
}
BUILDERS = {
    "isoflop": lambda **common: isoflop_grid("c", [1e13], sizes_per_budget=5, width=2.0, **common),
    "ladder": lambda **common: model_ladder("c", 2e4, 8e4, 3, **common),
    "wsd": lambda **common: wsd_design("c", 2e4, 8e4, 3, **common),
    "explicit": lambda **common: explicit_runs("c", [{"n_params": 5e4, "tokens": 1e5}], **common),
}


@pytest.mark.parametrize("kind", BUILDERS)
def test_every_builder_takes_the_shared_options_the_same_way(kind):
    options = {**COMMON, "schedule": None} if kind == "wsd" else COMMON
    design = BUILDERS[kind](**options)
    assert design.runs
    for run in design.runs:
        assert (run.shape.family, run.shape.vocab_size, run.shape.n_ctx) == ("llama", 300, 48)
        assert run.seed == 7
        assert run.schedule == ("wsd" if kind == "wsd" else "linear")
        assert run.config["lr"] == 3e-3
    defaults = BUILDERS[kind]()
    expected = DesignCommon()
    for run in defaults.runs:
        assert run.shape.family == expected.family == "gpt"
        assert run.seed == expected.seed == 0
        assert run.schedule == ("wsd" if kind == "wsd" else "cosine")
    with pytest.raises(TypeError, match="n_ctxx"):
        BUILDERS[kind](n_ctxx=64)


def test_a_wsd_design_refuses_another_schedule(tmp_path):
    with pytest.raises(ScalingLabError, match="wsd schedule, not 'cosine'"):
        wsd_design("w", 2e4, 8e4, 3, schedule="cosine")
    path = tmp_path / "w.toml"
    path.write_text(
        '[sweep]\nname = "w"\ndesign = "wsd"\nschedule = "cosine"\n'
        "[wsd]\nn_min = 2e4\nn_max = 8e4\ncount = 3\n"
    )
    with pytest.raises(ScalingLabError, match="wsd schedule"):
        load_design(path)


def test_design_file_round_trip(tmp_path):
    path = tmp_path / "iso.toml"
    path.write_text(
        '[sweep]\nname = "iso"\ndesign = "isoflop"\nn_ctx = 64\nvocab_size = 512\n'
        "[train]\nbatch_size = 8\n"
        "[isoflop]\nbudgets = [1e12, 3e12]\nsizes_per_budget = 5\n"
    )
    design = load_design(path)
    assert design.kind == "isoflop"
    assert design.runs[0].config["batch_size"] == 8
    assert design.runs[0].shape.vocab_size == 512
    assert design.runs[0].shape.n_ctx == 64
    capped = tmp_path / "capped.toml"
    capped.write_text(path.read_text().replace("[isoflop]\n", "[isoflop]\nmax_tokens = 5.3e6\n"))
    kept = load_design(capped)
    assert kept.options["max_tokens"] == 5.3e6
    assert all(run.tokens <= 5.3e6 for run in kept.runs)
    assert len(kept.runs) + len(kept.options["left_out"]) == len(design.runs)
    assert kept.options["left_out"]


def test_an_explicit_llama_run_may_set_grouped_query_attention(tmp_path):
    path = tmp_path / "gqa.toml"
    path.write_text(
        '[sweep]\nname = "gqa"\ndesign = "explicit"\nfamily = "llama"\nn_ctx = 64\n'
        "vocab_size = 512\n"
        "[[runs]]\nn_layer = 2\nd_model = 128\nn_head = 4\nn_kv_head = 1\ntokens = 1e5\n"
        "[[runs]]\nn_layer = 2\nd_model = 128\nn_head = 4\ntokens = 1e5\n"
    )
    grouped, full = load_design(path).runs
    assert grouped.shape.n_kv_head == 1
    assert grouped.config["n_kv_head"] == 1
    assert "n_kv_head" not in full.config  # MHA runs keep the registry keys they had
    # K and V of 3 fewer heads of 32: 2 layers x 2 (K, V) x 2 FLOPs x 128 x 96 x 3 (fwd+bwd)
    saved = 2 * 2 * 2 * 128 * 96 * 3 * 100_000
    assert full.flops - grouped.flops == pytest.approx(saved, rel=1e-9)
    from scalinglab.train.config import TrainConfig

    assert TrainConfig.from_dict(grouped.config).shape() == grouped.shape


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[sweep]\nname = "x"\ndesign = "grid"\n', "design is 'grid'"),
        ('[sweep]\ndesign = "isoflop"\n', "has no name"),
        ('[sweep]\nname = "x"\ndesign = "isoflop"\n[isoflop]\nwidth = 2\n', "lacks budgets"),
        ('[sweep]\nname = "x"\ndesign = "ladder"\n[ladder]\nn_mn = 1\n', "unknown key 'n_mn'"),
        ('[sweep]\nname = "x"\ndesign = "explicit"\n', "lists no runs"),
        ("[sweep\n", "not valid TOML"),
        (
            '[sweep]\nname = "x"\ndesign = "ladder"\n[train]\nlearning_rate = 1\n'
            "[ladder]\nn_min = 2e4\nn_max = 1e5\ncount = 2\n",
            "training option 'learning_rate'",
        ),
    ],
)
def test_design_file_errors_name_file_and_fix(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        load_design(path)
    assert str(path) in str(info.value)


def test_example_design_files_load():
    from pathlib import Path

    examples = sorted((Path(__file__).parents[2] / "examples").glob("*.toml"))
    assert examples
    for path in examples:
        assert load_design(path).runs


@settings(max_examples=25, deadline=None)
@given(
    budgets=st.lists(st.floats(1e12, 1e15), min_size=1, max_size=3, unique=True),
    sizes=st.integers(5, 9),
)
def test_isoflop_runs_never_exceed_their_budget(budgets, sizes):
    design = design_from_dict(
        {
            "sweep": {"name": "p", "design": "isoflop", "n_ctx": 64, "vocab_size": 256},
            "isoflop": {"budgets": budgets, "sizes_per_budget": sizes},
        }
    )
    for run in design.runs:
        assert 0 < run.flops <= run.budget


def test_start_order_is_largest_first():
    entries = [{"n_layer": 1, "d_model": 64, "tokens": t} for t in (1000, 3000, 2000)]
    design = explicit_runs("order", entries, vocab_size=256, n_ctx=32)
    assert [run.tokens for run in design.start_order()] == [3000, 2000, 1000]
    assert [run.tokens for run in design.runs] == [1000, 3000, 2000]
