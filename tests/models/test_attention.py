"""The explicit bf16 attention path equals fp32 causal attention, forward and backward,
and the dispatcher uses it only where it was measured to pay (bf16 on CPU, no mask, no
dropout)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from scalinglab.models import attention  # noqa: E402
from scalinglab.models.attention import causal_attention  # noqa: E402


def _qkv(dtype: torch.dtype, length: int = 19) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [
        torch.randn(2, 3, length, 16, generator=generator).to(dtype).requires_grad_()
        for _ in range(3)
    ]


def test_bf16_path_matches_fp32_reference_value_and_gradients() -> None:
    ours = _qkv(torch.bfloat16)
    ref = [t.detach().float().requires_grad_() for t in ours]
    grad = torch.randn(2, 3, 19, 16, generator=torch.Generator().manual_seed(1))
    out = causal_attention(*ours)
    expected = torch.nn.functional.scaled_dot_product_attention(*ref, is_causal=True)
    out.backward(grad.to(torch.bfloat16))
    expected.backward(grad)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, atol=3e-2, rtol=3e-2)
    for mine, theirs in zip(ours, ref, strict=True):
        assert mine.grad.dtype == torch.bfloat16
        torch.testing.assert_close(mine.grad.float(), theirs.grad, atol=5e-2, rtol=5e-2)


def test_first_position_attends_only_to_itself() -> None:
    q, k, v = _qkv(torch.bfloat16)
    out = causal_attention(q, k, v)
    torch.testing.assert_close(out[:, :, 0], v[:, :, 0])


@pytest.mark.parametrize(
    ("dtype", "masked", "dropout"),
    [(torch.float32, False, 0.0), (torch.bfloat16, True, 0.0), (torch.bfloat16, False, 0.1)],
)
def test_other_cases_use_sdpa(
    dtype: torch.dtype, masked: bool, dropout: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("the explicit path must not run here")

    monkeypatch.setattr(attention._ExplicitCausalAttention, "apply", refuse)
    q, k, v = _qkv(dtype)
    mask = torch.ones(19, 19, dtype=torch.bool).tril() if masked else None
    assert causal_attention(q, k, v, mask, dropout).shape == q.shape


def test_contexts_past_the_measured_range_use_sdpa(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("the explicit path must not run past EXPLICIT_MAX_CONTEXT")

    monkeypatch.setattr(attention._ExplicitCausalAttention, "apply", refuse)
    monkeypatch.setattr(attention, "EXPLICIT_MAX_CONTEXT", 18)
    q, k, v = _qkv(torch.bfloat16)
    assert causal_attention(q, k, v).shape == q.shape


def test_gpt_under_bf16_autocast_takes_the_explicit_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from scalinglab.models import build_model
    from scalinglab.models.shape import ShapeSpec

    calls = []
    original = attention._ExplicitCausalAttention.apply
    monkeypatch.setattr(
        attention._ExplicitCausalAttention, "apply", lambda *a: calls.append(1) or original(*a)
    )
    shape = ShapeSpec.create("gpt", n_layer=2, d_model=32, n_head=2, vocab_size=50, n_ctx=16)
    model = build_model(shape)
    ids = torch.randint(0, 50, (2, 16))
    fp32 = model(ids).logits
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = model(ids).logits
    assert len(calls) == 2
    torch.testing.assert_close(bf16.float(), fp32, atol=5e-2, rtol=5e-2)
