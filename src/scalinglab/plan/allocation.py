"""How to split compute between parameters ``N`` and tokens ``D``.

All allocations use the laws' compute convention ``C = 6 N D`` FLOPs (Kaplan et al.
2020; Hoffmann et al. 2022), the one their constants were fitted with.

- :func:`compute_optimal`: least loss at compute ``C``. Closed form for a Chinchilla-form
  law (Hoffmann et al. 2022, eq. 4), otherwise a golden-section search over ``log N``
  (:mod:`scalinglab.plan.search`).
- :func:`compute_for_loss`: least compute whose compute-optimal loss reaches a target.
- :func:`inference_aware`: Sardana et al. 2023, "Beyond Chinchilla-Optimal": at the loss
  the compute-optimal model reaches, the ``N, D`` minimising ``6 N D + 2 N I`` for ``I``
  lifetime inference tokens (a forward pass costs ``2 N`` FLOPs per token).
- :func:`data_constrained`: Muennighoff et al. 2023: least loss at compute ``C`` with only
  ``U`` unique tokens, repeating them ``D / U`` times.

:func:`allocation_figures`, :func:`inference_aware_figures` and
:func:`data_constrained_figures` report them as a plan's figures.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms import DataConstrainedLaw, LawForm
from scalinglab.plan.figure import Figure, size_label
from scalinglab.plan.law_source import LoadedLaw
from scalinglab.plan.loss import predict_loss
from scalinglab.plan.search import bisect_root, golden_minimize

FLOPS_PER_PARAM_TOKEN = 6.0
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0
_LOG_C_RANGE = (math.log(1e6), math.log(1e40))


@dataclass(frozen=True)
class Allocation:
    """``n`` parameters trained on ``d`` tokens at ``flops = 6 n d``; ``loss`` in nats/token.

    ``how`` says which rule chose it. ``epochs`` is ``d / unique_tokens`` when data is
    constrained; ``inference_flops`` is ``2 n I`` when lifetime inference ``I`` is given.
    """

    n: float
    d: float
    flops: float
    loss: float
    how: str
    epochs: float | None = None
    inference_flops: float | None = None

    @property
    def tokens_per_param(self) -> float:
        return self.d / self.n

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tokens_per_param": self.tokens_per_param}


def compute_optimal(law: LawForm, flops: float) -> Allocation:
    """``N*, D*`` minimising the loss at ``flops = 6 N D`` (every token unique)."""
    flops = _positive(flops, "compute budget")
    terms = law.chinchilla_terms()
    if terms is not None:
        n, d = (float(x) for x in terms.compute_optimal(flops))
        how = "closed form N* = G (C/6)**(beta/(alpha+beta)), D* = C/(6 N*) (Hoffmann eq. 4)"
    else:
        budget = flops / FLOPS_PER_PARAM_TOKEN
        half = 0.5 * math.log(budget)

        def objective(log_n: float) -> float:
            n = math.exp(log_n)
            return float(predict_loss(law, n, budget / n))

        n = math.exp(golden_minimize(objective, half - 20.0, half + 20.0))
        d = budget / n
        how = "least loss along C = 6ND by golden-section search over log N"
    loss = float(predict_loss(law, n, d))
    return Allocation(n=n, d=d, flops=FLOPS_PER_PARAM_TOKEN * n * d, loss=loss, how=how)


def compute_for_loss(law: LawForm, target_loss: float) -> Allocation:
    """The least compute whose compute-optimal model reaches ``target_loss`` nats/token."""
    lo, hi = _LOG_C_RANGE
    best = compute_optimal(law, math.exp(hi)).loss
    worst = compute_optimal(law, math.exp(lo)).loss
    if not best < target_loss:
        floor = _irreducible(law)
        raise ScalingLabError(
            f"target loss {target_loss} is not reachable with this law (its loss tends to "
            f"{floor:.4g} as compute grows); choose a target above {floor:.4g}"
        )
    if target_loss >= worst:
        raise ScalingLabError(
            f"target loss {target_loss} is reached below 1e6 FLOPs (loss there "
            f"{worst:.4g}); choose a lower target"
        )
    log_c = bisect_root(lambda x: compute_optimal(law, math.exp(x)).loss - target_loss, lo, hi)
    found = compute_optimal(law, math.exp(log_c))
    return Allocation(
        n=found.n,
        d=found.d,
        flops=found.flops,
        loss=found.loss,
        how=f"least C whose compute-optimal loss is {target_loss} (root in log C)",
    )


def _irreducible(law: LawForm) -> float:
    params = law.params
    if "E" in params:
        return params["E"]
    return float(predict_loss(law, 1e30, 1e30))


def tokens_for_loss(law: LawForm, n: float, target_loss: float) -> float:
    """Tokens ``D`` at which ``n`` parameters reach ``target_loss`` (inf if never)."""
    terms = law.chinchilla_terms()
    if terms is not None:
        room = target_loss - terms.E - terms.A / n**terms.alpha
        return math.inf if room <= 0 else (terms.B / room) ** (1.0 / terms.beta)
    if float(predict_loss(law, n, 1e40)) >= target_loss:
        return math.inf
    log_d = bisect_root(
        lambda x: float(predict_loss(law, n, math.exp(x))) - target_loss, 0.0, math.log(1e40)
    )
    return math.exp(log_d)


def inference_aware(law: LawForm, flops: float, inference_tokens: float) -> Allocation:
    """Sardana et al. 2023: at the compute-optimal loss for ``flops``, the ``N, D`` that
    minimise training plus lifetime inference FLOPs ``6 N D + 2 N I``.

    Along the iso-loss curve ``6 N D`` is least at ``N*``, so adding ``2 N I`` moves the
    optimum to a smaller, longer-trained model; the search runs over ``log N`` between the
    smallest model that can reach the loss and ``N*``.
    """
    inference_tokens = _positive(inference_tokens, "inference tokens")
    optimum = compute_optimal(law, flops)
    target = optimum.loss

    def lifetime(log_n: float) -> float:
        n = math.exp(log_n)
        d = tokens_for_loss(law, n, target)
        if not math.isfinite(d):
            return math.inf
        return math.log(
            FLOPS_PER_PARAM_TOKEN * n * d + INFERENCE_FLOPS_PER_PARAM_TOKEN * n * inference_tokens
        )

    # below the smallest N that can reach the loss at all, lifetime() is infinite
    log_hi = math.log(optimum.n)
    log_lo = log_hi - 60.0
    if math.isinf(lifetime(log_lo)):
        log_lo = bisect_root(lambda x: 1.0 if math.isinf(lifetime(x)) else -1.0, log_lo, log_hi)
    n = math.exp(golden_minimize(lifetime, log_lo + 1e-9, log_hi))
    d = tokens_for_loss(law, n, target)
    return Allocation(
        n=n,
        d=d,
        flops=FLOPS_PER_PARAM_TOKEN * n * d,
        loss=float(predict_loss(law, n, d)),
        how=f"min 6ND + 2N·I at L = {target:.4f} (the compute-optimal loss), I = "
        f"{inference_tokens:.3g} tokens (Sardana et al. 2023)",
        inference_flops=INFERENCE_FLOPS_PER_PARAM_TOKEN * n * inference_tokens,
    )


def data_constrained(law: LawForm, flops: float, unique_tokens: float) -> Allocation:
    """Muennighoff et al. 2023: least loss at ``flops = 6 N D`` with ``unique_tokens``
    distinct tokens, repeated for ``D / unique_tokens`` epochs when ``D`` exceeds them."""
    flops = _positive(flops, "compute budget")
    unique_tokens = _positive(unique_tokens, "unique tokens")
    budget = flops / FLOPS_PER_PARAM_TOKEN
    half = 0.5 * math.log(budget)

    def objective(log_n: float) -> float:
        n = math.exp(log_n)
        return float(predict_loss(law, n, budget / n, unique_tokens))

    n = math.exp(golden_minimize(objective, half - 20.0, half + 20.0))
    d = budget / n
    return Allocation(
        n=n,
        d=d,
        flops=flops,
        loss=float(predict_loss(law, n, d, unique_tokens)),
        how=f"least loss along C = 6ND with {unique_tokens:.3g} unique tokens, repeats "
        "discounted by R_D*, excess parameters by R_N* (Muennighoff et al. 2023)",
        epochs=d / unique_tokens,
    )


def optimal_compute_for_n(law: LawForm, n: float) -> Allocation:
    """The compute at which ``n`` is the compute-optimal size, and that allocation."""
    n = _positive(n, "parameter count")
    terms = law.chinchilla_terms()
    if terms is not None:
        G = (terms.alpha * terms.A / (terms.beta * terms.B)) ** (1.0 / (terms.alpha + terms.beta))
        flops = FLOPS_PER_PARAM_TOKEN * (n / G) ** (1.0 / terms.a)
        return compute_optimal(law, flops)
    lo, hi = _LOG_C_RANGE
    log_c = bisect_root(lambda x: math.log(compute_optimal(law, math.exp(x)).n / n), lo, hi)
    return compute_optimal(law, math.exp(log_c))


def _positive(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ScalingLabError(f"{what} must be a positive finite number, got {value!r}")
    return value


def allocation_figures(
    loaded: LoadedLaw,
    budget_flops: float,
    optimum: Allocation,
    loss_interval: tuple[float, float] | None,
    intervals: dict[str, tuple[float, float]] | None,
) -> list[Figure]:
    """``N*``, ``D*``, tokens per parameter and the loss of the compute-optimal
    allocation of ``budget_flops``, with the bootstrap ``intervals`` of a fit
    (:func:`~scalinglab.plan.intervals.allocation_intervals`) and, for Kaplan's law, its
    compute law ``L(C)`` at the same compute."""
    source = loaded.source
    loss_text = "n/a"
    if loss_interval is not None:
        loss_text = f"[{loss_interval[0]:.4f}, {loss_interval[1]:.4f}]"
    figures = [
        Figure("allocation", "N* parameters", optimum.n, "params", source, optimum.how),
        *_interval_figure(loaded, intervals, "n_opt", "N* interval", "params"),
        Figure("allocation", "D* tokens", optimum.d, "tokens", source, "C / (6 N*)"),
        *_interval_figure(loaded, intervals, "d_opt", "D* interval", "tokens"),
        Figure(
            "allocation",
            "tokens per parameter",
            optimum.tokens_per_param,
            "tokens/param",
            "derived",
            "D* / N*",
        ),
        *_interval_figure(
            loaded, intervals, "tokens_per_param", "tokens per parameter interval", "tokens/param"
        ),
        Figure(
            "allocation",
            "predicted loss",
            optimum.loss,
            "nats/token",
            source,
            f"L(N*, D*) from {loaded.citation}",
        ),
        Figure(
            "allocation", "loss interval", loss_text, "nats/token", source, loaded.interval_note
        ),
    ]
    if loaded.compute_law is not None:
        figures.append(
            Figure(
                "allocation",
                "loss from the compute law L(C)",
                float(loaded.compute_law.predict(C=budget_flops)),
                "nats/token",
                source,
                "Kaplan eq. 1.3, L(C_min) = (3.1e8 PF-days / C)**0.050: early-stopped "
                "frontier, above the converged L(N*, D*)",
            )
        )
    return figures


def _interval_figure(
    loaded: LoadedLaw,
    intervals: dict[str, tuple[float, float]] | None,
    key: str,
    name: str,
    unit: str,
) -> list[Figure]:
    """The ``ci_level`` interval of an allocation figure, when the fit has samples."""
    if intervals is None:
        return []
    lo, hi = intervals[key]
    text = (
        f"[{size_label(lo)}, {size_label(hi)}]"
        if unit in ("params", "tokens")
        else f"[{lo:.3g}, {hi:.3g}]"
    )
    how = (
        f"{loaded.ci_level:.0%} interval: each bootstrap sample's law allocates the same "
        "budget; central percentiles"
    )
    return [Figure("allocation", name, text, unit, loaded.source, how)]


def inference_aware_figures(aware: Allocation, optimum: Allocation) -> list[Figure]:
    """The inference-aware allocation (:func:`inference_aware`) and the share of lifetime
    compute it saves against the compute-optimal ``optimum`` serving as many tokens."""
    inference = aware.inference_flops or 0.0
    base_lifetime = optimum.flops + inference * optimum.n / aware.n
    return [
        Figure("inference-aware", "N", aware.n, "params", "derived", aware.how),
        Figure(
            "inference-aware", "D", aware.d, "tokens", "derived", "tokens reaching the same loss"
        ),
        Figure("inference-aware", "training compute", aware.flops, "FLOPs", "derived", "6ND"),
        Figure(
            "inference-aware",
            "lifetime compute saved vs N*",
            1.0 - (aware.flops + inference) / base_lifetime,
            "fraction",
            "derived",
            "1 - (6ND + 2NI) / (6N*D* + 2N*I)",
        ),
    ]


def data_constrained_figures(
    loaded: LoadedLaw, constrained: Allocation, optimum: Allocation, unique_tokens: float
) -> list[Figure]:
    """The data-constrained allocation (:func:`data_constrained`) of ``unique_tokens``,
    and the loss the compute-optimal ``optimum`` would reach repeating the same data."""
    repetition = (
        "the law's own R_D*, R_N*"
        if isinstance(loaded.law, DataConstrainedLaw)
        else "R_D* = 15.4, R_N* = 5.3 of Muennighoff et al. 2023 (assumed here)"
    )
    section = "data-constrained"
    return [
        Figure(section, "unique tokens", unique_tokens, "tokens", "user", "--unique-tokens"),
        Figure(section, "N", constrained.n, "params", "derived", constrained.how),
        Figure(section, "D (with repeats)", constrained.d, "tokens", "derived", "C / (6N)"),
        Figure(section, "epochs", constrained.epochs, "epochs", "derived", "D / unique tokens"),
        Figure(
            section,
            "predicted loss",
            constrained.loss,
            "nats/token",
            loaded.source,
            f"Muennighoff eq. 5, {repetition}",
        ),
        Figure(
            section,
            "loss of N*, D* on this data",
            float(predict_loss(loaded.law, optimum.n, optimum.d, unique_tokens)),
            "nats/token",
            loaded.source,
            "the compute-optimal allocation, repeats discounted",
        ),
    ]
