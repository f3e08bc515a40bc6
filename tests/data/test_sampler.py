"""Samplers: pure functions of (seed, index); epochs; MLM masking 15% with 80/10/10."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.data.mlm import mask_tokens
from scalinglab.data.sampler import SpecialIds, WindowSampler, validation_sampler
from scalinglab.errors import ScalingLabError

STREAM = np.arange(10, 1010, dtype=np.uint16)
SPECIALS = SpecialIds(cls=2, sep=3, mask=4, pad=0, n_special=5)


def gpt(seed: int = 0, **kw: object) -> WindowSampler:
    return WindowSampler(STREAM, family="gpt", n_ctx=10, seed=seed, vocab_size=2000, **kw)


def test_gpt_windows_are_next_token_pairs_and_epochs_cover_every_window() -> None:
    sampler = gpt()
    assert sampler.n_windows == 99
    sample = sampler.sample(0)
    assert np.array_equal(sample["labels"], sample["input_ids"] + 1)
    starts = {int(sampler.sample(i)["input_ids"][0]) for i in range(99)}
    assert starts == {10 + 10 * w for w in range(99)}
    assert [int(sampler.sample(i)["input_ids"][0]) for i in range(99, 104)] != [
        int(sampler.sample(i)["input_ids"][0]) for i in range(5)
    ]  # epoch 2 has its own order


@given(st.integers(0, 10_000), st.integers(0, 1000))
@settings(max_examples=50, deadline=None)
def test_samples_are_pure_functions_of_seed_and_index(seed: int, index: int) -> None:
    a, b = gpt(seed).sample(index), gpt(seed).sample(index)
    assert np.array_equal(a["input_ids"], b["input_ids"])


def test_seed_changes_order_and_unique_tokens_caps_the_stream() -> None:
    assert not np.array_equal(
        gpt(0).batch(range(8))["input_ids"], gpt(1).batch(range(8))["input_ids"]
    )
    capped = gpt(unique_tokens=101)
    assert capped.n_windows == 10
    assert capped.unique_tokens == 101
    assert max(int(capped.sample(i)["labels"].max()) for i in range(50)) <= 110
    with pytest.raises(ScalingLabError, match="unique_tokens"):
        gpt(unique_tokens=5000)


def test_bert_samples_wrap_and_mask() -> None:
    sampler = WindowSampler(
        STREAM, family="bert", n_ctx=12, seed=3, vocab_size=2000, specials=SPECIALS
    )
    sample = sampler.sample(5)
    assert sample["input_ids"].shape == (12,)
    assert sample["input_ids"][0] == 2
    assert sample["input_ids"][-1] == 3
    assert sample["labels"][0] == -100
    assert sample["labels"][-1] == -100
    again = WindowSampler(
        STREAM, family="bert", n_ctx=12, seed=3, vocab_size=2000, specials=SPECIALS
    )
    assert np.array_equal(again.sample(5)["input_ids"], sample["input_ids"])


def test_nsp_pairs_have_segments_and_balanced_labels() -> None:
    sampler = WindowSampler(
        STREAM, family="bert", n_ctx=13, seed=0, vocab_size=2000, specials=SPECIALS, nsp=True
    )
    labels = [int(sampler.sample(i)["next_sentence_label"]) for i in range(400)]
    assert 0.4 < np.mean(labels) < 0.6
    sample = sampler.sample(0)
    assert list(sample["token_type_ids"]) == [0] * 7 + [1] * 6


def test_mlm_masking_rates() -> None:
    ids = np.full(200_000, 100)
    inputs, labels = mask_tokens(
        ids, np.random.default_rng(0), mask_id=4, n_special=5, vocab_size=1000
    )
    selected = labels != -100
    assert selected.mean() == pytest.approx(0.15, abs=0.005)
    assert (inputs[selected] == 4).mean() == pytest.approx(0.8, abs=0.01)
    changed = selected & (inputs != 4) & (inputs != 100)
    assert changed.sum() / selected.sum() == pytest.approx(0.1, abs=0.01)
    assert (inputs[~selected] == 100).all()
    specials = np.full(1000, 3)
    assert (mask_tokens(specials, np.random.default_rng(0), mask_id=4, n_special=5,
                        vocab_size=1000)[1] == -100).all()  # fmt: skip


def test_validation_set_is_fixed_and_ordered() -> None:
    val, n = validation_sampler(STREAM, val_tokens=100, family="gpt", n_ctx=10, vocab_size=2000)
    assert n == 10
    assert [int(val.sample(i)["input_ids"][0]) for i in range(3)] == [10, 20, 30]
