"""Our modules as Hugging Face folders: they load with the Auto classes and agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from scalinglab.errors import ScalingLabError  # noqa: E402
from scalinglab.models import build_model  # noqa: E402
from scalinglab.models.hf_export import export_hf, load_hf_dir  # noqa: E402
from scalinglab.models.shape import ShapeSpec  # noqa: E402


def _perturbed(shape: ShapeSpec, **kwargs: object) -> torch.nn.Module:
    """A model whose biases and LayerNorms are not at their init values either."""
    torch.manual_seed(0)
    model = build_model(shape, **kwargs).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.02 * torch.randn_like(param))
    return model


def _inputs(shape: ShapeSpec) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(1, shape.vocab_size, (2, shape.n_ctx))
    mask = torch.ones_like(ids)
    mask[1, shape.n_ctx // 2 :] = 0
    return ids, mask


def _loaded(auto: type, folder: Path, **kwargs: object) -> tuple[torch.nn.Module, dict]:
    model, info = auto.from_pretrained(folder, output_loading_info=True, **kwargs)
    return model.eval(), {key: set(value) for key, value in info.items() if value}


LM_CASES = [
    ("gpt", {}, "AutoModelForCausalLM"),
    ("gpt", {"tied_embeddings": False}, "AutoModelForCausalLM"),
    ("bert", {}, "AutoModelForMaskedLM"),
    ("bert", {"tied_embeddings": False}, "AutoModelForMaskedLM"),
    ("bert", {"nsp": True}, "BertForPreTraining"),
]


@pytest.mark.parametrize(("family", "options", "auto_name"), LM_CASES)
def test_exported_folder_loads_in_transformers_with_equal_logits(
    tmp_path: Path, family: str, options: dict, auto_name: str
) -> None:
    shape = ShapeSpec.create(family, n_layer=2, d_model=64, vocab_size=120, n_ctx=16, **options)
    ours = _perturbed(shape)
    export_hf(ours, shape, tmp_path)
    theirs, problems = _loaded(getattr(transformers, auto_name), tmp_path)
    assert problems == {}
    ids, mask = _inputs(shape)
    with torch.no_grad():
        for attention_mask in (None, mask):
            expected = ours(ids, attention_mask=attention_mask)
            got = theirs(ids, attention_mask=attention_mask)
            got_logits = got.prediction_logits if shape.nsp else got.logits
            keep = mask.bool() if attention_mask is not None else torch.ones_like(mask).bool()
            torch.testing.assert_close(got_logits[keep], expected.logits[keep], atol=1e-4, rtol=0)
            if shape.nsp:
                torch.testing.assert_close(
                    got.seq_relationship_logits,
                    expected.seq_relationship_logits,
                    atol=1e-4,
                    rtol=0,
                )


@pytest.mark.parametrize(
    ("nsp", "missing"), [(False, {"bert.pooler", "classifier"}), (True, {"classifier"})]
)
def test_bert_pretraining_folder_loads_for_sequence_classification(
    tmp_path: Path, nsp: bool, missing: set[str]
) -> None:
    shape = ShapeSpec.create("bert", n_layer=1, d_model=64, vocab_size=120, n_ctx=16, nsp=nsp)
    export_hf(_perturbed(shape), shape, tmp_path)
    _, problems = _loaded(transformers.AutoModelForSequenceClassification, tmp_path, num_labels=2)
    assert {key.rsplit(".", 2)[0] for key in problems["missing_keys"]} == missing
    assert all(key.startswith("cls.") for key in problems.get("unexpected_keys", ()))


def test_sequence_classifier_round_trips_through_transformers(tmp_path: Path) -> None:
    shape = ShapeSpec.create("bert", n_layer=2, d_model=64, vocab_size=120, n_ctx=16)
    ours = _perturbed(shape, num_labels=3)
    export_hf(ours, shape, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["num_labels"] == 3
    theirs, problems = _loaded(transformers.AutoModelForSequenceClassification, tmp_path)
    assert problems == {}
    ids, mask = _inputs(shape)
    with torch.no_grad():
        expected = ours(ids, attention_mask=mask).logits
        torch.testing.assert_close(
            theirs(ids, attention_mask=mask).logits, expected, atol=1e-4, rtol=0
        )
        back, back_shape = load_hf_dir(tmp_path)
        assert back_shape == shape
        torch.testing.assert_close(back.eval()(ids, attention_mask=mask).logits, expected)


@pytest.mark.parametrize(("family", "options", "auto_name"), LM_CASES)
def test_load_hf_dir_restores_shape_and_weights(
    tmp_path: Path, family: str, options: dict, auto_name: str
) -> None:
    shape = ShapeSpec.create(family, n_layer=2, d_model=64, vocab_size=120, n_ctx=16, **options)
    ours = _perturbed(shape)
    export_hf(ours, shape, tmp_path)
    back, back_shape = load_hf_dir(tmp_path)
    assert back_shape == shape
    for key, value in ours.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


def test_load_hf_dir_as_classifier_keeps_encoder_weights(tmp_path: Path) -> None:
    shape = ShapeSpec.create("bert", n_layer=1, d_model=64, vocab_size=120, n_ctx=16)
    ours = _perturbed(shape)
    export_hf(ours, shape, tmp_path)
    classifier, _ = load_hf_dir(tmp_path, num_labels=2)
    encoder = {k: v for k, v in ours.state_dict().items() if k.startswith("bert.")}
    for key, value in encoder.items():
        assert torch.equal(classifier.state_dict()[key], value), key


def test_load_hf_dir_refuses_incomplete_folders(tmp_path: Path) -> None:
    with pytest.raises(ScalingLabError, match=r"config\.json"):
        load_hf_dir(tmp_path)
    small = ShapeSpec.create("gpt", n_layer=1, d_model=64, vocab_size=120, n_ctx=16)
    export_hf(build_model(small), small, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["n_layer"] = 2
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ScalingLabError, match="lacks"):
        load_hf_dir(tmp_path)


def test_tokenizer_is_copied_and_loads_with_auto_tokenizer(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, "in": 1, "the": 2, "beginning": 3}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    tok.save(str(tok_dir / "tokenizer.json"))
    shape = ShapeSpec.create("gpt", n_layer=1, d_model=64, vocab_size=4, n_ctx=8)
    out = export_hf(build_model(shape), shape, tmp_path / "model", tokenizer_dir=tok_dir)
    loaded = transformers.AutoTokenizer.from_pretrained(out)
    assert loaded("in the beginning")["input_ids"] == [1, 2, 3]
