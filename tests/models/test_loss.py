"""The blockwise cross-entropy equals torch's fp32 cross-entropy, value and gradient."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from scalinglab.models import loss as loss_module  # noqa: E402
from scalinglab.models.loss import cross_entropy  # noqa: E402


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("block_elements", [1 << 18, 300])
def test_matches_fp32_cross_entropy(
    dtype: torch.dtype, block_elements: int, reduction: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loss_module, "BLOCK_ELEMENTS", block_elements)
    torch.manual_seed(0)
    raw = (3 * torch.randn(3, 37, 101)).to(dtype)
    labels = torch.randint(0, 101, (3, 37))
    labels[0, :9] = -100
    ours = raw.clone().requires_grad_()
    ref = raw.clone().requires_grad_()
    value = cross_entropy(ours, labels, reduction=reduction)
    expected = torch.nn.functional.cross_entropy(
        ref.float().view(-1, 101), labels.view(-1), ignore_index=-100, reduction=reduction
    )
    (2.5 * value).backward()
    (2.5 * expected).backward()
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    assert ours.grad.dtype == dtype
    tolerance = 1e-7 if dtype == torch.float32 else 1e-3
    if reduction == "sum":
        tolerance *= 100
    torch.testing.assert_close(ours.grad.float(), ref.grad.float(), atol=tolerance, rtol=1e-2)
    assert ours.grad[0, :9].abs().max().item() == 0.0


def test_no_labelled_position_gives_zero() -> None:
    logits = torch.randn(4, 10, requires_grad=True)
    value = cross_entropy(logits, torch.full((4,), -100))
    value.backward()
    assert value.item() == 0.0
    assert logits.grad.abs().max().item() == 0.0


def test_saved_probabilities_survive_a_second_backward() -> None:
    logits = torch.randn(6, 11, requires_grad=True)
    labels = torch.randint(0, 11, (6,))
    value = cross_entropy(logits, labels)
    value.backward(retain_graph=True)
    first = logits.grad.clone()
    value.backward()
    torch.testing.assert_close(logits.grad, 2 * first)


def test_unknown_reduction_is_refused() -> None:
    with pytest.raises(ValueError, match="reduction must be"):
        cross_entropy(torch.randn(2, 3), torch.zeros(2, dtype=torch.long), reduction="none")


def test_compiled_graphs_use_the_library_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("the blockwise function must not run under torch.compile")

    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    monkeypatch.setattr(loss_module._BlockwiseCrossEntropy, "apply", refuse)
    logits = torch.randn(8, 10)
    labels = torch.randint(0, 10, (8,))
    expected = torch.nn.functional.cross_entropy(logits, labels)
    assert cross_entropy(logits, labels).item() == pytest.approx(expected.item())
