"""Tokenizers trained on a corpus with Hugging Face ``tokenizers``, cached by content hash.

Each model family declares its tokenizer kind (:mod:`scalinglab.models.families`):
``byte_bpe`` (gpt, llama) is byte-level BPE (GPT-2's scheme: every byte is a base symbol,
so no text is unknown) with the end-of-text token ``<|endoftext|>`` between documents;
``wordpiece`` (bert) is WordPiece on lower-cased text (BERT's uncased scheme) with
``[PAD] [UNK] [CLS] [SEP] [MASK]`` as ids 0-4. Training a tokenizer on the embedded corpus
takes a few seconds; the result is stored under ``CACHE/tokenizers/<hash>/tokenizer.json``
where the hash covers the corpus fingerprint, the tokenizer kind, the vocabulary size and
the scheme version, so every run of a sweep on the same corpus shares one tokenizer, and
so do gpt and llama runs.

The cache directory is ``$SCALINGLAB_CACHE`` if set, else ``~/.cache/scalinglab``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers import trainers as tok_trainers

from scalinglab.data.corpus import Corpus
from scalinglab.errors import ScalingLabError
from scalinglab.io import atomic_write_text
from scalinglab.models.families import get_family

SCHEME_VERSION = 1
GPT_EOS = "<|endoftext|>"
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache directory: ``cache_dir``, else ``$SCALINGLAB_CACHE``, else ~/.cache/scalinglab."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("SCALINGLAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "scalinglab"


@dataclass(frozen=True)
class TrainedTokenizer:
    """A trained tokenizer of scheme ``kind`` (``byte_bpe`` or ``wordpiece``), its cache
    ``key`` and ids of its special tokens. ``separator_token`` names the end-of-text
    token of a tokenizer brought by the user (e.g. ``</s>``); ``None`` means the
    scheme's own."""

    tokenizer: Tokenizer
    kind: str
    key: str
    path: Path
    separator_token: str | None = None

    @property
    def separator(self) -> str:
        """The token written after each document (end of text, or ``[SEP]``)."""
        return self.separator_token or _SCHEMES[self.kind].separator

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def token_id(self, token: str) -> int:
        token_id = self.tokenizer.token_to_id(token)
        if token_id is None:
            raise ScalingLabError(f"tokenizer has no token {token!r}")
        return token_id

    def save_hf(self, out_dir: str | Path) -> Path:
        """Write a Hugging Face tokenizer folder that ``AutoTokenizer`` loads."""
        from transformers import PreTrainedTokenizerFast

        specials = _SCHEMES[self.kind].hf_specials
        if self.separator_token is not None:
            specials = dict.fromkeys(("bos_token", "eos_token"), self.separator_token)
        wrapped = PreTrainedTokenizerFast(tokenizer_object=self.tokenizer, **specials)
        out = Path(out_dir)
        wrapped.save_pretrained(out)
        return out


def tokenizer_key(corpus: Corpus, kind: str, vocab_size: int) -> str:
    """Cache key: SHA-256 over corpus fingerprint, tokenizer kind, vocabulary size, scheme
    version."""
    payload = json.dumps([corpus.fingerprint, kind, int(vocab_size), SCHEME_VERSION])
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def get_tokenizer(
    corpus: Corpus, family: str, vocab_size: int, cache_dir: str | Path | None = None
) -> TrainedTokenizer:
    """The tokenizer of ``family``'s kind for ``corpus``: from the cache, else trained and
    cached."""
    kind = get_family(family).tokenizer
    if vocab_size < 300:
        raise ScalingLabError(
            f"vocabulary size {vocab_size} is too small; use at least 300 (256 bytes + merges)"
        )
    key = tokenizer_key(corpus, kind, vocab_size)
    path = cache_root(cache_dir) / "tokenizers" / key / "tokenizer.json"
    if path.exists():
        return TrainedTokenizer(Tokenizer.from_file(str(path)), kind, key, path)
    tokenizer = train_tokenizer(corpus.documents, kind, vocab_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, tokenizer.to_str())
    return TrainedTokenizer(tokenizer, kind, key, path)


def train_tokenizer(documents: Sequence[str], kind: str, vocab_size: int) -> Tokenizer:
    """A new tokenizer of scheme ``kind`` trained on ``documents`` (uncached)."""
    return _SCHEMES[kind].train(documents, vocab_size)


def _train_bpe(documents: Sequence[str], vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = tok_trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[GPT_EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(documents, trainer=trainer, length=len(documents))
    return tokenizer


def _train_wordpiece(documents: Sequence[str], vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = tok_trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=list(BERT_SPECIALS), show_progress=False
    )
    tokenizer.train_from_iterator(documents, trainer=trainer, length=len(documents))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return tokenizer


@dataclass(frozen=True)
class _Scheme:
    """A tokenizer kind: how to train it, the token after each document, and the special
    tokens ``PreTrainedTokenizerFast`` is told about."""

    train: Callable[[Sequence[str], int], Tokenizer]
    separator: str
    hf_specials: dict[str, str]


_SCHEMES = {
    "byte_bpe": _Scheme(
        _train_bpe, GPT_EOS, {"bos_token": GPT_EOS, "eos_token": GPT_EOS, "unk_token": GPT_EOS}
    ),
    "wordpiece": _Scheme(
        _train_wordpiece,
        "[SEP]",
        {
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "mask_token": "[MASK]",
        },
    ),
}
