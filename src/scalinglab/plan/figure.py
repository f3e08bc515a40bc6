"""A planned number with the way it was obtained, and how a plan writes sizes.

Every figure the planner reports carries its ``source``, one of :data:`SOURCES`, and a
short ``how`` (the formula or the citation), so that a reader can tell a fitted number
from a catalogue figure from an assumption. Each plan component (budget, allocation,
shape, hardware and training cost, memory, inference) makes its own figures;
:mod:`scalinglab.plan.figures` assembles them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SOURCES = (
    "fit",  # a law fitted by `scalinglab fit`
    "preset",  # a published law's constants
    "catalogue",  # the hardware catalogue (vendor datasheets) or a user's hardware file
    "assumed",  # a default the user did not set
    "user",  # given on the command line
    "calibrated",  # derived from a measured or published training run
    "derived",  # arithmetic on the figures above
)


@dataclass(frozen=True)
class Figure:
    """One reported number of a plan ``section``: ``value`` in ``unit``, with its
    ``source`` and ``how``."""

    section: str
    name: str
    value: float | str | None
    unit: str
    source: str
    how: str

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown figure source {self.source!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def size_label(n: float) -> str:
    """``1.3e9`` -> ``"1.3B"``: a parameter or token count as the case study writes it."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:.3g}"
