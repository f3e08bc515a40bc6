"""The law a plan uses: a preset by name, or a ``scalinglab fit --json`` file.

A fit file is ``{"form": ..., "params": {...}, "bootstrap_params": {name: [samples]},
"ci_level": 0.95, ...}``, or ``{"method": "all", "fits": {"approach3": {...}, ...}}``,
of which the approach-3 fit is used. When bootstrap samples are present the predicted
loss, ``N*``, ``D*`` and tokens per parameter get intervals: each sample's law is
evaluated (or allocated, :mod:`scalinglab.plan.intervals`) and the central ``ci_level``
percentiles are taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.errors import InputError, ScalingLabError
from scalinglab.io import load_json
from scalinglab.laws.forms import FORMS, LawForm, law_from_dict
from scalinglab.plan.presets import PRESETS, get_preset


@dataclass(frozen=True)
class LoadedLaw:
    """A law with where it came from; ``samples`` holds bootstrap parameter arrays."""

    law: LawForm
    source: str
    name: str
    citation: str
    n_kind: str
    interval_note: str
    notes: str
    samples: dict[str, np.ndarray] | None = None
    ci_level: float = 0.95
    compute_law: LawForm | None = None
    provenance: str = ""
    model_kind: str = "unknown"

    def sample_laws(self) -> LawForm | None:
        """One law object whose parameters are arrays of the bootstrap samples."""
        if self.samples is None:
            return None
        return type(self.law)(**self.samples)


def load_law(spec: str | Path | dict[str, Any]) -> LoadedLaw:
    """A preset name, a path to a fit JSON file, or the parsed JSON itself."""
    if isinstance(spec, dict):
        return _from_fit_dict(spec, "<dict>")
    text = str(spec)
    if text.lower() in PRESETS:
        preset = get_preset(text)
        return LoadedLaw(
            law=preset.law,
            source="preset",
            name=preset.name,
            citation=preset.citation,
            n_kind=preset.n_kind,
            interval_note=preset.interval_note,
            notes=preset.notes,
            compute_law=preset.compute_law,
            provenance=preset.provenance,
            model_kind=preset.model_kind,
        )
    path = Path(text)
    if not path.is_file():
        known = ", ".join(sorted(PRESETS))
        raise ScalingLabError(
            f"--law {text!r} is neither a preset ({known}) nor an existing file; "
            "give a preset name or the JSON written by `scalinglab fit --json`"
        )
    data = load_json(path, what="fit file", fix="pass the file written by `scalinglab fit --json`")
    if not isinstance(data, dict):
        raise InputError(
            "the top level is not a JSON object",
            fix="pass a `scalinglab fit --json` file",
            file=str(path),
        )
    return _from_fit_dict(data, str(path))


def _from_fit_dict(data: dict[str, Any], where: str) -> LoadedLaw:
    if data.get("method") == "all":
        fits = data.get("fits", {})
        if "approach3" not in fits:
            raise ScalingLabError(
                f"{where}: a `--method all` fit without an approach3 fit; the planner needs "
                "the parametric L(N, D) fit (approach 3)"
            )
        data = fits["approach3"]
    law = law_from_dict(data)
    if not isinstance(law, LawForm) or not law.plans():
        plannable = ", ".join(name for name, form in FORMS.items() if form.plans())
        raise ScalingLabError(
            f"{where}: a law of form {data.get('form')!r} cannot plan an allocation; it needs "
            f"loss as a function of N and D (forms {plannable})"
        )
    level = float(data.get("ci_level", 0.95))
    samples = _samples(data.get("bootstrap_params"), law, where)
    note = (
        f"{level:.0%} interval: the law evaluated at each of the "
        f"{len(next(iter(samples.values())))} bootstrap samples, central percentiles"
        if samples
        else "no interval: the fit file has no bootstrap samples; rerun "
        "`scalinglab fit --bootstrap 200 --json FILE`"
    )
    method = data.get("method", data.get("form"))
    return LoadedLaw(
        law=law,
        source="fit",
        name=where,
        citation=f"fit {method} from {where}",
        n_kind=str(data.get("n_kind", "total")),
        interval_note=note,
        notes="",
        samples=samples,
        ci_level=level,
        provenance=f"your own runs, fitted by `scalinglab fit --method {method}` ({where})",
    )


def _samples(raw: Any, law: LawForm, where: str) -> dict[str, np.ndarray] | None:
    if not raw:
        return None
    names = type(law).parameter_names()
    missing = [name for name in names if name not in raw]
    if missing:
        raise ScalingLabError(
            f"{where}: bootstrap_params lacks {', '.join(missing)}; it needs all of "
            f"{', '.join(names)}"
        )
    arrays = {name: np.asarray(raw[name], dtype=float) for name in names}
    sizes = {array.shape for array in arrays.values()}
    if len(sizes) != 1 or len(next(iter(sizes))) != 1:
        raise ScalingLabError(f"{where}: bootstrap_params must be equal-length lists")
    keep = np.all([np.isfinite(array) for array in arrays.values()], axis=0)
    if not keep.any():
        return None
    return {name: array[keep] for name, array in arrays.items()}
