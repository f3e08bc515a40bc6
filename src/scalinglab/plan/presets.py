"""Published scaling laws the planner can use without a fit, each with its source.

Loss is in nats per token on each paper's own data and tokenizer, so losses of different
presets are not comparable with one another, only allocations are.

- ``chinchilla``: Hoffmann et al. 2022, "Training Compute-Optimal Large Language
  Models", approach 3 (Section 3.3, eq. 10): ``E = 1.69, A = 406.4, B = 410.7,
  alpha = 0.34, beta = 0.28``; ``N`` counts all parameters.
- ``epoch2024``: Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt"
  (eq. 4): ``E = 1.8172, A = 482.01, B = 2085.43, alpha = 0.3478, beta = 0.3658``,
  refitted to the points they extracted from Chinchilla's Figure 4.
- ``kaplan2020``: Kaplan et al. 2020, "Scaling Laws for Neural Language Models", the
  joint fit L(N, D) of eq. 1.5 with Table 2's constants ``alphaN = 0.076, alphaD = 0.103,
  Nc = 6.4e13, Dc = 1.8e13``; ``N`` excludes embeddings, the data is WebText2 with the
  GPT-2 BPE tokenizer (50257 tokens). Their compute law L(C_min) = (3.1e8 PF-days /
  C_min)**0.050 (eq. 1.3) is :attr:`Preset.compute_law`, reported beside the allocation;
  the compute-efficient frontier N_opt ∝ C_min**0.73 comes from early-stopped training
  and is quoted in :attr:`Preset.notes`, not used.
- ``muennighoff2023``: Muennighoff et al. 2023, "Scaling Data-Constrained Language
  Models" (eq. 5 and Appendix A): Chinchilla-form base terms refitted on their runs,
  ``E = 1.87, A = 521, B = 1488, alpha = beta = 0.353``, with repetition constants
  ``R_D* = 15.4`` (repeated data) and ``R_N* = 5.3`` (excess parameters). The unrounded
  values are those of the authors' repository (github.com/huggingface/datablations,
  README "Parametric Fit": ``log A = 6.255414, log B = 7.3049974, log E = 0.6254804,
  alpha = beta = 0.3526596, R_D* = 15.387756, R_N* = 5.309743``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms import ChinchillaLaw, DataConstrainedLaw, KaplanC, KaplanND, LawForm

#: Repetition constants of Muennighoff et al. 2023, used to extend a Chinchilla-form law
#: to repeated data when the user gives ``unique_tokens``.
MUENNIGHOFF_RD_STAR = 15.387756
MUENNIGHOFF_RN_STAR = 5.309743
#: One petaflop/s-day in FLOPs (Kaplan et al. 2020 quote compute in PF-days).
PF_DAY = 1e15 * 86400


@dataclass(frozen=True)
class Preset:
    """A published law: its constants, what ``N`` counts, its citation and caveats.

    ``provenance`` says where the constants come from and how far to trust them;
    ``model_kind`` is the kind of model the law was fitted to (all presets: decoder-only
    language models trained on next-token prediction).
    """

    name: str
    law: LawForm
    citation: str
    n_kind: str
    interval_note: str
    provenance: str
    notes: str = ""
    compute_law: LawForm | None = None
    model_kind: str = "decoder"


_NO_BOOTSTRAP = (
    "no interval: a preset has no bootstrap samples (fit with --bootstrap and pass its --json file)"
)

PRESETS: dict[str, Preset] = {
    "chinchilla": Preset(
        name="chinchilla",
        law=ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
        citation="Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, "
        "approach 3, eq. 10",
        n_kind="total",
        interval_note=_NO_BOOTSTRAP + "; the paper gives intervals only for a, b (Table 2)",
        provenance="the published constants of Hoffmann et al. 2022 (approach 3), as printed; "
        "Besiroglu et al. 2024 showed that they do not fit Hoffmann's own data (they give 93 "
        "tokens per parameter at 5.76e23 FLOPs, against about 20 from Hoffmann's approaches "
        "1 and 2 and from a refit); use --law epoch2024 for the refit of that data",
    ),
    "epoch2024": Preset(
        name="epoch2024",
        law=ChinchillaLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658),
        citation="Besiroglu et al. 2024, Chinchilla Scaling: A replication attempt, eq. 4",
        n_kind="total",
        interval_note=_NO_BOOTSTRAP + "; `fit --example chinchilla` refits the same data",
        provenance="Epoch AI's refit (Huber loss) of the 240 points they extracted from "
        "Chinchilla's Figure 4, the 5 highest losses excluded; `scalinglab fit --example "
        "chinchilla` reproduces it; about 20 tokens per parameter, as Hoffmann's approaches "
        "1 and 2",
    ),
    "kaplan2020": Preset(
        name="kaplan2020",
        law=KaplanND(Nc=6.4e13, Dc=1.8e13, alphaN=0.076, alphaD=0.103),
        citation="Kaplan et al. 2020, Scaling Laws for Neural Language Models, eq. 1.5 "
        "with Table 2 constants",
        n_kind="nonembed",
        interval_note=_NO_BOOTSTRAP,
        provenance="the published constants of Kaplan et al. 2020 (Table 2), fitted to "
        "decoder-only transformers on WebText2; not refitted here",
        notes="N excludes embeddings; losses are on WebText2 with the GPT-2 tokenizer, not "
        "comparable to Chinchilla's MassiveText losses. The allocation minimises eq. 1.5 at "
        "C = 6ND (converged training); Kaplan's own compute-efficient frontier, "
        "N_opt = 1.3e9 (C_min / PF-day)**0.73 with L(C_min) = (3.1e8 PF-day / C_min)**0.050, "
        "comes from early-stopped training and puts more of the budget into N.",
        compute_law=KaplanC(Cc=3.1e8 * PF_DAY, alphaC=0.050),
    ),
    "muennighoff2023": Preset(
        name="muennighoff2023",
        law=DataConstrainedLaw(
            E=math.exp(0.6254804),
            A=math.exp(6.255414),
            B=math.exp(7.3049974),
            alpha=0.3526596,
            beta=0.3526596,
            rd_star=MUENNIGHOFF_RD_STAR,
            rn_star=MUENNIGHOFF_RN_STAR,
        ),
        citation="Muennighoff et al. 2023, Scaling Data-Constrained Language Models, eq. 5 "
        "(R_D* = 15.4, R_N* = 5.3; unrounded constants from the authors' datablations README)",
        n_kind="total",
        interval_note=_NO_BOOTSTRAP,
        provenance="the published constants of Muennighoff et al. 2023 (eq. 5), unrounded "
        "from the authors' datablations repository, fitted to decoder-only models on C4 "
        "with repeated data; not refitted here",
        notes="Without --unique-tokens the data-constrained law is its Chinchilla-form base "
        "(every token unique).",
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name raises an error listing the known."""
    try:
        return PRESETS[name.lower()]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ScalingLabError(
            f"unknown law preset {name!r}; use one of: {known}, or a JSON file written by "
            "`scalinglab fit --json`"
        ) from None
