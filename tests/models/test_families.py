"""The family registry: built-ins, one-line errors, and a new family as one module."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.models import families
from scalinglab.models.counting import count_params, flops_per_token
from scalinglab.models.families import family_names, get_family
from scalinglab.models.shape import ShapeSpec

#: A real family in one module: a causal LM of residual MLP blocks without attention
#: (each position sees only its own token), pre-LayerNorm, tied unembedding.
MLP_LM = '''
"""mlplm: token embedding, residual MLP blocks, final LayerNorm, tied unembedding."""

from scalinglab.models.counting import ParamCounts
from scalinglab.models.families import HFExchange, ModelFamily, register
from scalinglab.models.shape import ShapeSpec


def count_params(shape):
    d, f, V = shape.d_model, shape.d_ff, shape.vocab_size
    nonembed = shape.n_layer * (2 * d + d * f + f + f * d + d) + 2 * d
    return ParamCounts(total=V * d + nonembed, nonembed=nonembed, embedding=V * d)


def forward_flops_per_token(shape):
    d = shape.d_model
    return float(shape.n_layer * 4 * d * shape.d_ff + 2 * d * shape.vocab_size)


def build(shape, dropout, num_labels):
    import torch
    from torch import nn

    from scalinglab.models.init import init_weights
    from scalinglab.models.loss import cross_entropy
    from scalinglab.models.output import ModelOutput

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(shape.d_model)
            self.up = nn.Linear(shape.d_model, shape.d_ff)
            self.down = nn.Linear(shape.d_ff, shape.d_model)

        def forward(self, x):
            return x + self.down(torch.nn.functional.gelu(self.up(self.norm(x))))

    class MlpLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(shape.vocab_size, shape.d_model)
            self.blocks = nn.ModuleList(Block() for _ in range(shape.n_layer))
            self.norm = nn.LayerNorm(shape.d_model)
            init_weights(self, shape.n_layer)

        def forward(self, input_ids, labels=None, attention_mask=None, token_type_ids=None):
            x = self.embed(input_ids)
            for block in self.blocks:
                x = block(x)
            logits = self.norm(x) @ self.embed.weight.t()
            loss = cross_entropy(logits, labels) if labels is not None else None
            return ModelOutput(logits=logits, loss=loss)

    return MlpLM()


def _config(shape, num_labels):
    return {"model_type": "mlplm", **shape.to_dict()}


def _shape(config):
    return ShapeSpec.from_dict({k: v for k, v in config.items() if k != "model_type"})


register(
    ModelFamily(
        name="mlplm",
        summary="residual MLP blocks, no attention",
        objective="causal",
        tokenizer="byte_bpe",
        inference="decoder",
        count_params=count_params,
        forward_flops_per_token=forward_flops_per_token,
        build=build,
        hf=HFExchange(model_type="mlplm", config=_config, shape_from_config=_shape),
        default_vocab=512,
        default_ctx=32,
        default_d_ff=lambda d: 2 * d,
    )
)
'''


@pytest.fixture
def mlplm_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``mlplm.py`` dropped into the family package's search path; the registry reloads."""
    (tmp_path / "mlplm.py").write_text(textwrap.dedent(MLP_LM))
    package = sys.modules["scalinglab.models.family"]
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    monkeypatch.setattr(families, "_REGISTRY", dict(families._REGISTRY))
    monkeypatch.setattr(families, "_builtins_loaded", False)
    monkeypatch.delitem(sys.modules, "scalinglab.models.family.mlplm", raising=False)
    return "mlplm"


def test_builtin_families_and_what_they_declare() -> None:
    assert family_names()[:3] == ("gpt", "bert", "llama")
    assert [get_family(n).objective for n in ("gpt", "bert", "llama")] == [
        "causal",
        "mlm",
        "causal",
    ]
    assert get_family("llama").tokenizer == get_family("gpt").tokenizer == "byte_bpe"
    assert get_family("bert").inference == "encoder"
    assert families.family_for_hf_model_type("gpt2").name == "gpt"


def test_unknown_family_is_a_one_line_error_listing_the_registered() -> None:
    with pytest.raises(ScalingLabError) as error:
        ShapeSpec.create("mamba", n_layer=1, d_model=64)
    assert str(error.value) == (
        "unknown model family 'mamba'; registered families: gpt, bert, llama"
    )
    result = subprocess.run(
        [sys.executable, "-m", "scalinglab", "model", "describe", "--family", "mamba",
         "--n-layer", "1", "--d-model", "64"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {error.value}"]


def test_counting_every_family_needs_no_torch() -> None:
    code = (
        "import sys\n"
        "from scalinglab.models.counting import describe\n"
        "from scalinglab.models.families import family_names\n"
        "from scalinglab.models.shape import ShapeSpec\n"
        "for name in family_names():\n"
        "    describe(ShapeSpec.create(name, n_layer=2, d_model=64))\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_family_help_lists_the_registry() -> None:
    from typer.testing import CliRunner

    from scalinglab.cli.app import app

    for command in (["model", "describe"], ["train"]):
        output = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
        for name in family_names():
            assert f"{name} (" in output


def test_a_new_family_module_is_found_by_name_and_counted_exactly(mlplm_module: str) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from scalinglab.models import build_model

    assert mlplm_module in family_names()
    shape = ShapeSpec.create(mlplm_module, n_layer=2, d_model=48)
    assert (shape.d_ff, shape.vocab_size, shape.n_ctx) == (96, 512, 32)
    model = build_model(shape)
    assert sum(p.numel() for p in model.parameters()) == count_params(shape).total
    ids = torch.randint(0, shape.vocab_size, (2, shape.n_ctx))
    counter = FlopCounterMode(display=False)
    with counter:
        model(ids, labels=ids).loss.backward()
    assert counter.get_total_flops() / ids.numel() == flops_per_token(shape).exact
    with pytest.raises(ScalingLabError, match="mlplm"):
        ShapeSpec.create(mlplm_module, n_layer=1, d_model=64, nsp=True)


@pytest.mark.slow
def test_a_new_family_module_trains_through_the_unchanged_pipeline(
    mlplm_module: str, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    import json

    from scalinglab.data.corpus import load_corpus
    from scalinglab.train import TrainConfig, run_training

    corpus = tmp_path / "kjv60.jsonl"
    docs = load_corpus("kjv").documents[:60]
    corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    config = TrainConfig(
        out_dir=str(tmp_path / "run"), family=mlplm_module, n_layer=1, d_model=32,
        vocab_size=512, tokens=8 * 32 * 30, batch_size=8, corpus=str(corpus),
        val_tokens=1024, eval_every=10, threads=1, peak_flops=1e11,
        cache_dir=str(tmp_path / "cache"), export_hf=False, device="cpu",
    )  # fmt: skip
    summary = run_training(config, progress=False)
    assert summary.status == "completed"
    assert summary.family == mlplm_module
    assert summary.final_val_loss < math.log(512)
