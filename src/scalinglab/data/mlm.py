"""BERT's masked-language-model corruption (Devlin et al. 2019, section 3.1).

Each non-special token is selected with probability 15% (independently, as Hugging
Face's ``DataCollatorForLanguageModeling`` does); a selected token becomes ``[MASK]``
80% of the time, a uniformly random non-special token 10% of the time, and stays
unchanged 10% of the time. Labels hold the original id at selected positions and -100
(ignored by the loss) elsewhere. The caller passes a seeded generator, so the masking is
a pure function of (seed, sample index).
"""

from __future__ import annotations

import numpy as np

MASK_PROB = 0.15
IGNORE_INDEX = -100


def mask_tokens(
    ids: np.ndarray,
    rng: np.random.Generator,
    *,
    mask_id: int,
    n_special: int,
    vocab_size: int,
    mask_prob: float = MASK_PROB,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(inputs, labels)`` for one sequence; ids below ``n_special`` are special."""
    ids = np.asarray(ids, dtype=np.int64)
    selected = (rng.random(ids.shape) < mask_prob) & (ids >= n_special)
    labels = np.where(selected, ids, IGNORE_INDEX)
    action = rng.random(ids.shape)
    inputs = ids.copy()
    inputs[selected & (action < 0.8)] = mask_id
    randomize = selected & (action >= 0.8) & (action < 0.9)
    inputs[randomize] = rng.integers(n_special, vocab_size, size=int(randomize.sum()))
    return inputs, labels
