"""Tiny random BERT classifiers and a tokenizer built offline, shared by finetune tests."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    """A real WordPiece tokenizer over a small vocabulary, written to disk and reloaded."""
    from transformers import BertTokenizerFast

    words = [
        "good",
        "great",
        "bad",
        "terrible",
        "awful",
        "happy",
        "sad",
        "love",
        "hate",
        "car",
        "ride",
        "it",
        "was",
        "the",
        "a",
    ]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    directory = tmp_path_factory.mktemp("tok")
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return BertTokenizerFast(vocab_file=str(directory / "vocab.txt"))


def make_tiny_bert(tokenizer, num_labels: int = 2, seed: int = 0):
    """A random 2-layer BertForSequenceClassification with named labels."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    names = ["negative", "positive", "neutral"][:num_labels]
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=num_labels,
        id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)},
    )
    return BertForSequenceClassification(config).eval()


@pytest.fixture
def tiny_bert(tiny_tokenizer):
    return make_tiny_bert(tiny_tokenizer)
