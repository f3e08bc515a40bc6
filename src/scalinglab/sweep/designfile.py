"""Read a sweep design from a TOML file (format in ``docs/sweeps.md``).

```toml
[sweep]
name = "iso"            # the sweep's name in the registry
design = "isoflop"      # isoflop | ladder | wsd | explicit
family = "gpt"
vocab_size = 2048       # tokenizer vocabulary (also the shapes' vocabulary)
n_ctx = 128             # context length, tokens
seed = 0

[train]                 # training options given to every run (see scalinglab train)
batch_size = 16

[isoflop]
budgets = [3e12, 1e13, 3e13]   # FLOPs
sizes_per_budget = 5
width = 4.0
```
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scalinglab.errors import InputError
from scalinglab.sweep.design import (
    SWEEP_NAME_RULE,
    SweepDesign,
    explicit_runs,
    isoflop_grid,
    model_ladder,
    sweep_name_problem,
    wsd_design,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

DESIGNS = ("isoflop", "ladder", "wsd", "explicit")
#: Training options each run's design sets itself; ``[train]`` may not override them.
_RUN_KEYS = {
    "family",
    "n_layer",
    "d_model",
    "n_head",
    "d_ff",
    "vocab_size",
    "n_ctx",
    "tokens",
    "seed",
    "schedule",
    "out_dir",
}
_SWEEP_KEYS = {"name", "design", "family", "vocab_size", "n_ctx", "seed", "schedule"}
_SECTION_KEYS: dict[str, set[str]] = {
    "isoflop": {"budgets", "sizes_per_budget", "width", "tokens_per_param"},
    "ladder": {"n_min", "n_max", "count", "tokens_per_param"},
    "wsd": {"n_min", "n_max", "count", "tokens_per_param", "cooldown_fraction"},
}


def load_design(path: str | Path) -> SweepDesign:
    """Parse and validate a design file; every problem is an :class:`InputError` naming
    the file and the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise InputError(
            "design file not found", fix="give the path of a .toml design", file=str(path)
        ) from error
    except tomllib.TOMLDecodeError as error:
        raise InputError(
            f"not valid TOML ({error})", fix="correct the TOML syntax", file=str(path)
        ) from error
    return design_from_dict(data, source=str(path))


def design_from_dict(data: Mapping[str, Any], source: str = "<design>") -> SweepDesign:
    """Build a design from the parsed TOML tables (see the module docstring); the
    ``[train]`` options are checked against :class:`~scalinglab.train.config.TrainConfig`."""
    design = _build(data, source)
    from scalinglab.train.config import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)} - {"out_dir"}
    for key in data.get("train", {}):
        if key not in known or key in _RUN_KEYS:
            raise InputError(
                f"unknown or reserved training option {key!r} in [train]",
                fix=f"use options of scalinglab train except {', '.join(sorted(_RUN_KEYS))}",
                file=source,
                column=key,
            )
    return design


def _build(data: Mapping[str, Any], source: str) -> SweepDesign:
    sweep = _table(data, "sweep", source)
    _check_keys(sweep, _SWEEP_KEYS, "sweep", source)
    known_tables = {"sweep", "train", "runs", *_SECTION_KEYS}
    _check_keys(data, known_tables, "top level", source)
    name = sweep.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(
            "[sweep] has no name", fix='add name = "my-sweep" under [sweep]', file=source
        )
    problem = sweep_name_problem(name)
    if problem:
        raise InputError(problem, fix=SWEEP_NAME_RULE, file=source, column="name")
    kind = sweep.get("design")
    if kind not in DESIGNS:
        raise InputError(
            f"[sweep] design is {kind!r}",
            fix=f"set design to one of {', '.join(DESIGNS)}",
            file=source,
            column="design",
        )
    common: dict[str, Any] = {
        "family": sweep.get("family", "gpt"),
        "vocab_size": sweep.get("vocab_size"),
        "n_ctx": sweep.get("n_ctx"),
        "seed": int(sweep.get("seed", 0)),
        "train": dict(data.get("train", {})),
    }
    if kind == "explicit":
        entries = data.get("runs")
        if not isinstance(entries, list) or not entries:
            raise InputError(
                "an explicit design lists no runs",
                fix="add [[runs]] tables with n_layer, d_model and tokens",
                file=source,
            )
        return explicit_runs(name, entries, schedule=sweep.get("schedule", "cosine"), **common)
    section = _table(data, kind, source)
    _check_keys(section, _SECTION_KEYS[kind], kind, source)
    try:
        if kind == "isoflop":
            return isoflop_grid(
                name,
                [float(b) for b in _required(section, "budgets", kind, source)],
                schedule=sweep.get("schedule", "cosine"),
                **_pick(section, ("sizes_per_budget", "width", "tokens_per_param")),
                **common,
            )
        sizes = {key: _required(section, key, kind, source) for key in ("n_min", "n_max", "count")}
        if kind == "ladder":
            return model_ladder(
                name,
                float(sizes["n_min"]),
                float(sizes["n_max"]),
                int(sizes["count"]),
                schedule=sweep.get("schedule", "cosine"),
                **_pick(section, ("tokens_per_param",)),
                **common,
            )
        return wsd_design(
            name,
            float(sizes["n_min"]),
            float(sizes["n_max"]),
            int(sizes["count"]),
            **_pick(section, ("tokens_per_param", "cooldown_fraction")),
            **common,
        )
    except (TypeError, ValueError) as error:
        raise InputError(
            f"[{kind}] has a value of the wrong type ({error})",
            fix="use numbers for sizes, budgets and ratios",
            file=source,
        ) from error


def _table(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    table = data.get(key)
    if not isinstance(table, Mapping):
        raise InputError(f"the [{key}] table is missing", fix=f"add a [{key}] table", file=source)
    return table


def _check_keys(table: Mapping[str, Any], known: set[str], where: str, source: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise InputError(
            f"unknown key {unknown[0]!r} in {where}",
            fix=f"use only {', '.join(sorted(known))}",
            file=source,
            column=unknown[0],
        )


def _required(table: Mapping[str, Any], key: str, where: str, source: str) -> Any:
    if key not in table:
        raise InputError(
            f"[{where}] lacks {key}", fix=f"add {key} = ... under [{where}]", file=source
        )
    return table[key]


def _pick(table: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: table[key] for key in keys if key in table}
