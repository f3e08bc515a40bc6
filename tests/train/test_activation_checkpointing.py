"""Activation checkpointing recomputes each block in backward: the same loss and
gradients as the plain model (with dropout, whose masks the recomputation must draw
again identically), fewer activation bytes kept for backward, and a whole run that ends
where a run without it ends."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from scalinglab.models.build import build_model
from scalinglab.models.shape import ShapeSpec
from scalinglab.train import run_training
from scalinglab.train.activation_checkpointing import (
    apply_activation_checkpointing,
    transformer_blocks,
)


def loss_grads_and_saved_bytes(model: nn.Module, ids: torch.Tensor) -> tuple:
    """Loss, gradients, and the bytes of tensors autograd kept for backward."""
    saved = [0]

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved[0] += tensor.numel() * tensor.element_size()
        return tensor

    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the dropout masks
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    return loss.detach(), grads, saved[0]


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_checkpointed_blocks_give_the_same_gradients_keeping_less(family: str) -> None:
    shape = ShapeSpec.create(family, n_layer=3, d_model=32, n_head=2, vocab_size=64, n_ctx=16)
    torch.manual_seed(0)
    plain = build_model(shape, dropout=0.1)
    recomputed = copy.deepcopy(plain)
    apply_activation_checkpointing(transformer_blocks(recomputed, shape.n_layer))
    ids = torch.randint(0, 64, (4, 16), generator=torch.Generator().manual_seed(2))
    loss_a, grads_a, saved_a = loss_grads_and_saved_bytes(plain, ids)
    loss_b, grads_b, saved_b = loss_grads_and_saved_bytes(recomputed, ids)
    assert loss_b == loss_a
    assert grads_b.keys() == grads_a.keys()
    for name, grad in grads_a.items():
        torch.testing.assert_close(grads_b[name], grad, rtol=1e-6, atol=1e-7, msg=name)
    # three blocks keep only their inputs (and the recomputation's own, freed at once)
    assert saved_b < 0.5 * saved_a


def test_blocks_are_found_per_family_and_a_blockless_model_is_refused() -> None:
    shape = ShapeSpec.create("bert", n_layer=2, d_model=32, n_head=2, vocab_size=64, n_ctx=16)
    blocks = transformer_blocks(build_model(shape), 2)
    assert [type(b).__name__ for b in blocks] == ["BertLayer", "BertLayer"]
    with pytest.raises(ValueError, match="exactly one"):
        transformer_blocks(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), 2)


def test_a_run_with_activation_checkpointing_ends_where_one_without_ends(tiny) -> None:
    plain = run_training(tiny("plain", micro_batch_size=4), progress=False)
    recomputed = run_training(
        tiny("recomputed", micro_batch_size=4, activation_checkpointing=True), progress=False
    )
    assert recomputed.config["activation_checkpointing"] is True
    assert recomputed.final_train_loss == pytest.approx(plain.final_train_loss, rel=1e-6)
    assert recomputed.final_val_loss == pytest.approx(plain.final_val_loss, rel=1e-6)
