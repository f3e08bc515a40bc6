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
    return BertTokenizerFast(vocab=str(directory / "vocab.txt"))


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


@pytest.fixture
def make_bert(tiny_tokenizer):
    """Factory of fresh tiny classifiers: ``make_bert(num_labels=2, seed=0)``."""
    return lambda num_labels=2, seed=0: make_tiny_bert(tiny_tokenizer, num_labels, seed)


@pytest.fixture
def toy_csv():
    """Factory writing a separable sentiment CSV (see :func:`write_toy_csv`)."""
    return write_toy_csv


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory, tiny_tokenizer):
    """A directory like `scalinglab train` writes: a random BertForMaskedLM + tokenizer."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=0.2,  # learns the toy task in a few steps
    )
    directory = tmp_path_factory.mktemp("tiny-bert")
    BertForMaskedLM(config).save_pretrained(directory)
    tiny_tokenizer.save_pretrained(directory)
    return directory


def write_toy_csv(path, n_per_class: int = 40, seed: int = 0, classes=("negative", "positive")):
    """A separable sentiment CSV: positive texts use good words, negative ones bad words."""
    import random

    rng = random.Random(seed)
    words = {
        "positive": ["good", "great", "love", "happy"],
        "negative": ["bad", "awful", "hate", "sad"],
        "neutral": ["car", "ride", "the", "a"],
    }
    rows = ["text,label"]
    for i in range(n_per_class):
        for label in classes:
            picked = " ".join(rng.choice(words[label]) for _ in range(4))
            rows.append(f"it was {picked} {'the car' if i % 2 else 'a ride'},{label}")
    path.write_text("\n".join(rows) + "\n")
    return path
