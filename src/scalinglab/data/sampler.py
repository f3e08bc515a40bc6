"""Training samples cut from a token stream, as a pure function of (seed, sample index).

The stream is cut into non-overlapping windows, as the family's objective
(:mod:`scalinglab.models.families`) needs: ``causal`` windows (gpt, llama) hold
``n_ctx + 1`` tokens at stride ``n_ctx`` (inputs and next-token targets; every token is a
target once per epoch); ``mlm`` windows (bert) hold ``n_ctx - 2`` tokens wrapped in
``[CLS] ... [SEP]`` (with NSP, ``n_ctx - 3`` tokens split into segments A and B). Epoch
``e`` visits the windows in the order of ``numpy.random.default_rng([seed, e]).permutation``.
Sample ``k`` is window ``perm_{k // W}[k % W]`` where ``W`` is the number of windows, so
the data position of a run is one integer (samples consumed) and resuming from it is
exact. Data-parallel ranks and gradient-accumulation micro-batches take disjoint slices of
the same global indices, so a run sees the same samples for any number of processes.

A data-constrained run caps the stream at ``unique_tokens``; training past it repeats
epochs (``epochs = tokens / unique_tokens``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.data.mlm import mask_tokens
from scalinglab.errors import ScalingLabError
from scalinglab.models.families import get_family

VALIDATION_SEED = 20240917


@dataclass(frozen=True)
class SpecialIds:
    """Ids of bert's special tokens; ids below ``n_special`` are never masked."""

    cls: int
    sep: int
    mask: int
    pad: int
    n_special: int


class WindowSampler:
    """Samples of one family from ``stream``; ``shuffle=False`` keeps window order."""

    def __init__(
        self,
        stream: np.ndarray,
        *,
        family: str,
        n_ctx: int,
        seed: int,
        vocab_size: int,
        specials: SpecialIds | None = None,
        nsp: bool = False,
        unique_tokens: int | None = None,
        shuffle: bool = True,
    ) -> None:
        self.objective = get_family(family).objective
        if self.objective == "mlm" and specials is None:
            raise ScalingLabError(f"masked-LM samples ({family}) need the special token ids")
        self.family = family
        self.n_ctx = n_ctx
        self.seed = seed
        self.vocab_size = vocab_size
        self.specials = specials
        self.nsp = nsp
        self.shuffle = shuffle
        if self.objective == "causal":
            self.stride, self.width = n_ctx, n_ctx + 1
        else:
            self.stride = self.width = n_ctx - (3 if nsp else 2)
        if self.stride < 2:
            raise ScalingLabError(f"context {n_ctx} is too short for {family} samples")
        if unique_tokens is not None:
            if unique_tokens > len(stream):
                raise ScalingLabError(
                    f"unique_tokens {unique_tokens:,} exceeds the {len(stream):,} training "
                    "tokens of this corpus; lower --unique-tokens or use a larger corpus"
                )
            stream = stream[:unique_tokens]
        self.stream = stream
        self.n_windows = (len(stream) - self.width) // self.stride + 1
        if self.n_windows < 1:
            raise ScalingLabError(
                f"{len(stream):,} tokens hold no window of {self.width} tokens; "
                "lower the context or give more data"
            )
        self._perm: tuple[int, np.ndarray] | None = None

    @property
    def unique_tokens(self) -> int:
        """Distinct tokens the samples draw from (one epoch of windows)."""
        return (self.n_windows - 1) * self.stride + self.width

    def window_index(self, index: int) -> int:
        epoch, offset = divmod(index, self.n_windows)
        if not self.shuffle:
            return offset
        if self._perm is None or self._perm[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._perm = (epoch, rng.permutation(self.n_windows))
        return int(self._perm[1][offset])

    def sample(self, index: int) -> dict[str, np.ndarray]:
        """Sample number ``index`` (0-based, counted over the whole run)."""
        start = self.window_index(index) * self.stride
        tokens = np.asarray(self.stream[start : start + self.width], dtype=np.int64)
        if self.objective == "causal":
            return {"input_ids": tokens[:-1], "labels": tokens[1:]}
        return self._bert_sample(index, tokens)

    def batch(self, indices: range | list[int]) -> dict[str, np.ndarray]:
        """Samples ``indices`` stacked into arrays of shape (len(indices), n_ctx)."""
        samples = [self.sample(i) for i in indices]
        return {key: np.stack([s[key] for s in samples]) for key in samples[0]}

    def _bert_sample(self, index: int, tokens: np.ndarray) -> dict[str, np.ndarray]:
        sp = self.specials
        assert sp is not None
        rng = np.random.default_rng([self.seed, index, 1])
        if self.nsp:
            half = len(tokens) // 2
            first, second = tokens[:half], tokens[half:]
            is_random = bool(rng.random() < 0.5) and self.n_windows > 1
            if is_random:
                other = int(rng.integers(self.n_windows - 1))
                other += other >= self.window_index(index)
                start = other * self.stride + half
                second = np.asarray(self.stream[start : start + len(second)], dtype=np.int64)
            ids = np.concatenate([[sp.cls], first, [sp.sep], second, [sp.sep]])
            types = np.zeros(len(ids), dtype=np.int64)
            types[half + 2 :] = 1
        else:
            ids = np.concatenate([[sp.cls], tokens, [sp.sep]])
            types = np.zeros(len(ids), dtype=np.int64)
        inputs, labels = mask_tokens(
            ids, rng, mask_id=sp.mask, n_special=sp.n_special, vocab_size=self.vocab_size
        )
        sample = {
            "input_ids": inputs,
            "labels": labels,
            "token_type_ids": types,
        }
        if self.nsp:
            sample["next_sentence_label"] = np.asarray(int(is_random), dtype=np.int64)
        return sample


def validation_sampler(
    stream: np.ndarray, *, val_tokens: int, **kwargs: object
) -> tuple[WindowSampler, int]:
    """The fixed validation set: the first windows of the validation stream covering at
    most ``val_tokens`` tokens, in order, masked (bert) with a fixed seed that does not
    depend on the run. Returns the sampler and the number of validation samples."""
    sampler = WindowSampler(stream, seed=VALIDATION_SEED, shuffle=False, **kwargs)  # type: ignore[arg-type]
    n_samples = max(1, min(sampler.n_windows, val_tokens // sampler.n_ctx))
    return sampler, n_samples
