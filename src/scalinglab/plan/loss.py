"""Predicted loss of training ``N`` parameters on ``D`` tokens, with its interval.

With ``unique_tokens`` the loss accounts for repeated data (Muennighoff et al. 2023): a
data-constrained law uses its own ``R_D*, R_N*``; a Chinchilla-form law is extended with
the paper's ``R_D* = 15.4, R_N* = 5.3``.
"""

from __future__ import annotations

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms import DataConstrainedLaw, LawForm
from scalinglab.plan.law_source import LoadedLaw
from scalinglab.plan.presets import MUENNIGHOFF_RD_STAR, MUENNIGHOFF_RN_STAR


def with_repetition(law: LawForm) -> DataConstrainedLaw:
    """The data-constrained version of ``law`` (Muennighoff's R* for a Chinchilla law)."""
    if isinstance(law, DataConstrainedLaw):
        return law
    terms = law.chinchilla_terms()
    if terms is not None:
        return DataConstrainedLaw(
            E=terms.E,
            A=terms.A,
            B=terms.B,
            alpha=terms.alpha,
            beta=terms.beta,
            rd_star=MUENNIGHOFF_RD_STAR,
            rn_star=MUENNIGHOFF_RN_STAR,
        )
    raise ScalingLabError(
        f"a {law.form} law has no data-constrained version; use a Chinchilla-form law "
        "(--law chinchilla, epoch2024, muennighoff2023 or a chinchilla fit) with --unique-tokens"
    )


def predict_loss(
    law: LawForm, N: float, D: float, unique_tokens: float | None = None
) -> np.ndarray:
    """Loss in nats/token; ``unique_tokens`` switches on the repeated-data penalty."""
    if unique_tokens is not None:
        # Muennighoff's U_D is the unique data actually seen: min(U, D). A run shorter
        # than one epoch sees only D distinct tokens.
        seen = np.minimum(unique_tokens, D)
        return with_repetition(law).predict(N, D, seen)
    if law.plans():
        return law.loss_nd(N, D)
    raise ScalingLabError(f"a {law.form} law does not predict loss from N and D")


def loss_interval(
    loaded: LoadedLaw, N: float, D: float, unique_tokens: float | None = None
) -> tuple[float, float] | None:
    """Central ``ci_level`` interval of the loss over the bootstrap samples, or None."""
    laws = loaded.sample_laws()
    if laws is None:
        return None
    values = np.atleast_1d(predict_loss(laws, N, D, unique_tokens))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    tail = (1.0 - loaded.ci_level) / 2.0 * 100.0
    lo, hi = np.percentile(values, [tail, 100.0 - tail])
    return float(lo), float(hi)
