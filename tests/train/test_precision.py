"""One precision rule for every trainer: bf16 where the hardware computes it natively."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from scalinglab.train.precision import bf16_autocast, default_bf16  # noqa: E402


@pytest.mark.parametrize(("avx512_bf16", "amx", "expected"), [(True, False, True),
                         (False, True, True), (False, False, False)])  # fmt: skip
def test_cpu_default_follows_native_bf16_instructions(
    avx512_bf16: bool, amx: bool, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert default_bf16(torch.device("cpu")) is expected


def test_autocast_context_casts_only_when_enabled() -> None:
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with bf16_autocast("cpu", True):
        assert (a @ b).dtype == torch.bfloat16
    with bf16_autocast("cpu", False):
        assert (a @ b).dtype == torch.float32
