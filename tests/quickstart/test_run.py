"""Quickstart sizing and its JSON (the full loop is measured in BENCHMARKS.md: it takes
minutes, too long for the suite)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console

from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms import ChinchillaLaw
from scalinglab.laws.orchestrate import MethodReport
from scalinglab.quickstart.run import (
    BUDGET_RATIO,
    MAX_BUDGET_EXTENSIONS,
    MAX_EPOCHS,
    N_BUDGETS,
    N_CTX,
    QuickstartResult,
    SweepFit,
    _design,
    _estimated_seconds,
    _sweep_until_identified,
    _throughput,
    max_sweep_tokens,
    planned_budgets,
    run_quickstart,
    size_budgets,
    smallest_budget,
    train_options,
    write_json,
)

pytest.importorskip("torch")


@pytest.mark.slow
def test_budgets_scale_with_the_time_budget_and_respect_the_floor(tmp_path):
    small = size_budgets(0.1, workers=2, cache=tmp_path)
    large = size_budgets(500, workers=2, cache=tmp_path)
    assert small.budgets[0] == pytest.approx(smallest_budget())
    assert small.at_floor
    assert not large.at_floor
    assert large.budgets[0] > 3 * small.budgets[0]
    for sizing in (small, large):
        assert len(sizing.budgets) == N_BUDGETS
        assert sizing.budgets[1] / sizing.budgets[0] == pytest.approx(BUDGET_RATIO)
    assert "more than the 0.1 min given" in small.floor_note()
    assert small.estimated_seconds > 6
    assert large.floor_note() is None
    assert large.estimated_seconds == pytest.approx(large.available_seconds, rel=0.05)


def test_the_worst_case_estimate_counts_the_budget_extension_and_the_pilot(tmp_path):
    c1 = smallest_budget()
    train = train_options()
    measured = _throughput(train, tmp_path)
    base = _estimated_seconds(c1, 2, measured, train, pilot=False, seed=0)
    with_pilot = _estimated_seconds(c1, 2, measured, train, pilot=True, seed=0)
    assert with_pilot > base
    design = _design(planned_budgets(c1, MAX_BUDGET_EXTENSIONS), 0, train)
    assert len({run.budget for run in design.runs}) == N_BUDGETS + MAX_BUDGET_EXTENSIONS
    assert {run.shape.n_layer for run in design.runs} == {1}


def test_the_sweep_leaves_out_its_points_past_four_epochs_of_the_corpus():
    from scalinglab.data.corpus import load_corpus
    from scalinglab.data.shards import is_validation_document
    from scalinglab.data.tokenizer import get_tokenizer

    train = train_options()
    cap = max_sweep_tokens(0, train)
    corpus = load_corpus("kjv")
    tokenizer = get_tokenizer(corpus, "gpt", 384, None).tokenizer
    train_docs = [doc for doc in corpus.documents if not is_validation_document(doc, 0.05)]
    train_tokens = sum(len(tokenizer.encode(doc).ids) + 1 for doc in train_docs)  # + separator
    # the sampler counts the tokens its whole windows cover: at most one window fewer
    assert 0 <= train_tokens - cap / MAX_EPOCHS <= N_CTX + 1
    design = _design(planned_budgets(smallest_budget(), MAX_BUDGET_EXTENSIONS), 0, train, cap)
    assert design.options["left_out"]
    assert all(run.tokens <= cap for run in design.runs)
    uncapped = _design(planned_budgets(smallest_budget(), MAX_BUDGET_EXTENSIONS), 0, train)
    past = {run.run_id for run in uncapped.runs if run.tokens / (cap / MAX_EPOCHS) > MAX_EPOCHS}
    assert set(design.options["left_out"]) == past


def test_json_has_the_promised_keys(tmp_path):
    result = QuickstartResult(
        predicted_loss=3.0, predicted_interval=(2.9, 3.1), measured_loss=3.05,
        target_flops=1e13, target_n_params_nonembed=10**5, target_tokens=10**6,
        rel_error=0.0167, inside_interval=True, budgets=[1e11, 2e11, 4e11],
        fit_budgets=[1e11, 2e11, 4e11], sweep_runs=13, max_sweep_tokens=7.7e6,
        left_out=["quickstart-C4e11-L1d32-D8e06"],
        approach2_a=0.5, approach3_params={"E": 1.0}, wall_seconds=500.0, seconds={},
        report="r.html", registry="r.db", precision="fp32", lr_source="pilot",
        lr_pilot={"law": "lr* = 0.5 * N^-0.300", "runs": 25,
                  "optima": [{"lr": 2e-3, "interval": [math.nan, math.nan]}]},
    )  # fmt: skip
    text = write_json(result, tmp_path / "q.json").read_text()
    data = json.loads(text, parse_constant=_refuse_non_standard)
    for key in ("predicted_loss", "measured_loss", "target_flops", "wall_seconds"):
        assert isinstance(data[key], float)
    assert data["predicted_interval"] == [2.9, 3.1]
    assert data["precision"] == "fp32"
    assert data["left_out"] == ["quickstart-C4e11-L1d32-D8e06"]
    assert data["lr_pilot"]["law"].startswith("lr* = ")
    assert data["lr_pilot"]["optima"] == [{"lr": 2e-3, "interval": [None, None]}]


def _refuse_non_standard(token: str) -> None:
    raise AssertionError(f"{token} is not standard JSON")


def test_precision_forces_bf16_or_fp32_and_refuses_anything_else():
    assert "bf16" not in train_options("auto")
    assert train_options("fp32")["bf16"] is False
    assert train_options("bf16")["bf16"] is True
    with pytest.raises(ScalingLabError, match="--precision must be one of auto, bf16, fp32"):
        train_options("fp16")


def test_non_positive_budget_is_a_user_error(tmp_path):
    with pytest.raises(ScalingLabError, match="budget-minutes"):
        run_quickstart(0, tmp_path)


class _ScriptedSweep:
    """Stands in for the sweep's training and fitting: each round's law is unidentified
    for the reasons listed, round by round (none: identified)."""

    def __init__(self, *reasons: list[str]):
        self.rounds = list(reasons)
        self.budgets: list[list[float]] = []

    def train_and_fit(self, budgets):
        self.budgets.append(list(budgets))
        return SimpleNamespace(budgets=budgets[-N_BUDGETS:], unidentified=self.rounds.pop(0))


def test_an_unidentified_law_adds_a_budget_and_refits_on_the_largest():
    context = _ScriptedSweep(["approach 3's E at a bound of its search box"], [])
    sweep, warnings = _sweep_until_identified(context, [1.0, 2.0, 4.0, 8.0], Console(quiet=True))
    assert context.budgets == [[1.0, 2.0, 4.0, 8.0], [1.0, 2.0, 4.0, 8.0, 16.0]]
    assert sweep.budgets == [2.0, 4.0, 8.0, 16.0]
    assert warnings == []


def test_an_identified_law_trains_nothing_more():
    context = _ScriptedSweep([])
    _, warnings = _sweep_until_identified(context, [1.0, 2.0, 4.0, 8.0], Console(quiet=True))
    assert len(context.budgets) == 1
    assert warnings == []


def test_a_law_still_unidentified_is_flagged_after_the_last_extension():
    reasons = ["approach 3's E, beta at a bound", "approach2 and approach3 disagree on a"]
    context = _ScriptedSweep(*[reasons] * (MAX_BUDGET_EXTENSIONS + 1))
    _, warnings = _sweep_until_identified(context, [1.0, 2.0, 4.0, 8.0], Console(quiet=True))
    assert len(context.budgets) == MAX_BUDGET_EXTENSIONS + 1
    (warning,) = warnings
    assert warning.startswith("approach 3's E, beta at a bound; approach2 and approach3 disagree")
    assert "not to be trusted" in warning


def _sweep_fit(law: ChinchillaLaw, a_samples: dict[str, list[float]]) -> SweepFit:
    """A SweepFit whose approach-3 law is ``law`` and whose approaches' bootstrap draws
    of the allocation exponent are ``a_samples``."""
    result = SimpleNamespace(fits={"chinchilla": SimpleNamespace(law=law)})
    methods = {
        name: MethodReport(result if name == "approach3" else None, samples={"a": np.array(a)})
        for name, a in a_samples.items()
    }
    return SweepFit([1.0], None, SimpleNamespace(methods=methods), [])


def test_the_law_is_unidentified_at_a_bound_or_when_the_approaches_disagree():
    law = ChinchillaLaw(E=1.0, A=20.0, B=100.0, alpha=0.3, beta=0.3)
    overlapping = {"approach2": [0.5, 0.6, 0.7], "approach3": [0.3, 0.4, 0.55]}
    assert _sweep_fit(law, overlapping).unidentified == []
    disjoint = {"approach2": [0.5, 0.6, 0.7], "approach3": [0.05, 0.1, 0.2]}
    (reason,) = _sweep_fit(law, disjoint).unidentified
    assert "approach2 and approach3 disagree on the allocation exponent a" in reason
    floor = ChinchillaLaw.bounds["E"].lower
    at_floor = ChinchillaLaw(E=floor, A=20.0, B=100.0, alpha=0.3, beta=0.3)
    (reason,) = _sweep_fit(at_floor, overlapping).unidentified
    assert reason == "approach 3's E at a bound of its search box"
