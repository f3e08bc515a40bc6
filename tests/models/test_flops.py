"""The exact FLOP count against torch's FlopCounterMode on a real training step.

On CPU, ``scaled_dot_product_attention`` dispatches to a fused kernel that FlopCounterMode
has no formula for (it counts it as zero), so the step runs with the math backend, whose
attention is plain ``bmm``: the same arithmetic, now visible to the counter.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from scalinglab.models import build_model  # noqa: E402
from scalinglab.models.counting import flops_per_token  # noqa: E402
from scalinglab.models.shape import ShapeSpec  # noqa: E402

SHAPES = [
    ShapeSpec.create("gpt", n_layer=2, d_model=64, vocab_size=512, n_ctx=64),
    ShapeSpec.create(
        "gpt", n_layer=4, d_model=128, vocab_size=1024, n_ctx=128, tied_embeddings=False
    ),
    ShapeSpec.create("gpt", n_layer=3, d_model=96, n_head=3, d_ff=320, vocab_size=300, n_ctx=256),
    ShapeSpec.create("bert", n_layer=2, d_model=64, vocab_size=512, n_ctx=64),
    ShapeSpec.create("bert", n_layer=4, d_model=128, vocab_size=1024, n_ctx=128, nsp=True),
    ShapeSpec.create(
        "bert", n_layer=3, d_model=96, n_head=3, vocab_size=300, n_ctx=256, tied_embeddings=False
    ),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s.family}-{s.n_layer}x{s.d_model}")
def test_training_flops_match_flop_counter(shape: ShapeSpec) -> None:
    torch.manual_seed(0)
    model = build_model(shape)
    batch = 2
    ids = torch.randint(0, shape.vocab_size, (batch, shape.n_ctx))
    extra = {"next_sentence_label": torch.zeros(batch, dtype=torch.long)} if shape.nsp else {}
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:
        model(ids, labels=ids, **extra).loss.backward()
    measured = counter.get_total_flops() / (batch * shape.n_ctx)
    assert measured == pytest.approx(flops_per_token(shape).exact, rel=0.02)
