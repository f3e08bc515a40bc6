"""Each method trains exactly the parameters it should (names and counts)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from scalinglab.errors import ScalingLabError  # noqa: E402
from scalinglab.finetune.methods import (  # noqa: E402
    apply_method,
    count_parameters,
    method_config,
    trainable_parameter_names,
)

HIDDEN, LAYERS, FFN, LABELS = 32, 2, 64, 2
HEAD = {"classifier.weight": HIDDEN * LABELS, "classifier.bias": LABELS}


def _trainable(model) -> dict[str, int]:
    return {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}


def test_full_trains_everything(make_bert):
    model = apply_method(make_bert(), method_config("full"))
    total, trainable = count_parameters(model)
    assert total == trainable == sum(p.numel() for p in model.parameters())


def test_bitfit_trains_biases_and_head(make_bert):
    model = apply_method(make_bert(), method_config("bitfit"))
    trainable = _trainable(model)
    assert all(n.endswith(".bias") or n.startswith("classifier.") for n in trainable)
    assert trainable["classifier.weight"] == HIDDEN * LABELS
    every_bias = {n for n, _ in model.named_parameters() if n.endswith(".bias")}
    assert every_bias <= set(trainable)
    assert "bert.encoder.layer.0.attention.self.query.weight" not in trainable


def test_lora_trains_only_lora_and_head(make_bert):
    model = apply_method(make_bert(), method_config("lora", r=4))
    trainable = _trainable(model)
    lora = {n: c for n, c in trainable.items() if ".lora_" in n}
    head = {n: c for n, c in trainable.items() if "classifier" in n}
    assert set(trainable) == set(lora) | set(head)
    # query and value in each layer, A (r x d) and B (d x r)
    assert len(lora) == LAYERS * 2 * 2
    assert sum(lora.values()) == LAYERS * 2 * (4 * HIDDEN + HIDDEN * 4)
    assert sum(head.values()) == HIDDEN * LABELS + LABELS
    assert all(".query." in n or ".value." in n for n in lora)


def test_adapter_trains_adapters_norms_and_head(make_bert):
    model = apply_method(make_bert(), method_config("adapter", reduction_factor=8))
    trainable = _trainable(model)
    adapters = {n: c for n, c in trainable.items() if n.startswith("bottleneck_adapters.")}
    norms = {n: c for n, c in trainable.items() if "LayerNorm" in n}
    assert set(trainable) == set(adapters) | set(norms) | set(HEAD)
    bottleneck = HIDDEN // 8
    per_adapter = HIDDEN * bottleneck + bottleneck + bottleneck * HIDDEN + HIDDEN
    assert sum(adapters.values()) == LAYERS * 2 * per_adapter  # Houlsby: attention + FFN
    assert len(norms) == 2 * (1 + 2 * LAYERS)  # embeddings + two per layer, weight and bias


def test_adapter_starts_as_identity(make_bert, tiny_tokenizer):
    plain = make_bert()
    adapted = apply_method(make_bert(), method_config("adapter"))
    batch = tiny_tokenizer(["it was great"], return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(adapted(**batch).logits, plain(**batch).logits)


def test_pfeiffer_adapts_ffn_only(make_bert):
    model = apply_method(
        make_bert(),
        method_config("adapter", variant="pfeiffer", train_layer_norms=False),
    )
    names = [n for n in trainable_parameter_names(model) if n.startswith("bottleneck_adapters")]
    assert len(names) == LAYERS * 4
    assert not any("attention" in n for n in names)


def test_prompt_trains_prompt_and_head(make_bert):
    model = apply_method(make_bert(), method_config("prompt", num_virtual_tokens=5))
    trainable = _trainable(model)
    prompt = {n: c for n, c in trainable.items() if "prompt_encoder" in n}
    head = {n: c for n, c in trainable.items() if "classifier" in n}
    assert set(trainable) == set(prompt) | set(head)
    assert sum(prompt.values()) == 5 * HIDDEN
    assert sum(head.values()) == HIDDEN * LABELS + LABELS


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ScalingLabError, match="unknown method"):
        method_config("qlora")


def test_lora_on_minilm_trains_under_two_percent():
    from scalinglab.finetune.models import load_sequence_classifier, resolve_model

    model = load_sequence_classifier(resolve_model("minilm"), ["negative", "positive"])
    total_before, _ = count_parameters(model)
    assert total_before == 22_713_986
    model = apply_method(model, method_config("lora"))
    total, trainable = count_parameters(model)
    assert trainable / total <= 0.02
    # r=8 on query and value of 6 layers (384 wide) plus the 384x2 head
    assert trainable == 6 * 2 * (8 * 384 * 2) + 384 * 2 + 2


def test_non_embedding_count_leaves_out_the_embedding_tables(make_bert):
    from scalinglab.finetune.methods import count_nonembedding

    model = make_bert()
    config = model.config
    tables = (
        config.vocab_size + config.max_position_embeddings + config.type_vocab_size
    ) * config.hidden_size
    total = sum(p.numel() for p in model.parameters())
    assert count_nonembedding(model) == total - tables


def test_every_registered_method_has_a_default_lr_and_generated_flags():
    from scalinglab.finetune.methods import METHODS, cli_options, default_lr, options_from_cli

    assert set(METHODS) == {"full", "lora", "adapter", "prompt", "bitfit"}
    assert default_lr("lora") == 1e-3
    flags = {option.flag for option in cli_options()}
    assert {"--lora-r", "--lora-targets", "--lora-dropout", "--adapter-variant"} <= flags
    values = {"lora_r": 4, "lora_targets": "query, key", "lora_dropout": 0.0, "lora_alpha": 8}
    options = options_from_cli("lora", values)
    assert options == {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ("query", "key")}
    with pytest.raises(ScalingLabError, match="unknown method 'ia3'"):
        default_lr("ia3")


def test_lora_targets_adapt_the_named_modules(make_bert):
    model = apply_method(make_bert(), method_config("lora", target_modules=("key",), dropout=0.0))
    names = trainable_parameter_names(model)
    assert any(".key.lora_A." in name for name in names)
    assert not any(".query.lora_A." in name for name in names)
