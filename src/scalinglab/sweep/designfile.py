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

[grid]                  # optional: every run once per combination of these values
lr = [1e-3, 2e-3, 4e-3]
```
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scalinglab.errors import InputError, ScalingLabError
from scalinglab.sweep.design import (
    ENTRY_KEYS,
    SWEEP_NAME_RULE,
    SweepDesign,
    explicit_runs,
    isoflop_grid,
    model_ladder,
    sweep_name_problem,
    with_grid,
    with_recipe,
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
    "n_kv_head",
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
    "isoflop": {"budgets", "sizes_per_budget", "width", "tokens_per_param", "max_tokens"},
    "ladder": {"n_min", "n_max", "count", "tokens_per_param"},
    "wsd": {"n_min", "n_max", "count", "tokens_per_param", "cooldown_fraction"},
}


def load_design(path: str | Path, recipe: str | Path | None = None) -> SweepDesign:
    """Parse and validate a design file; every problem is an :class:`InputError` naming
    the file and the key. ``recipe`` (a recipe JSON of ``scalinglab recipe fit``) sets
    the learning rate and batch of every run that does not set them
    (:func:`~scalinglab.sweep.design.with_recipe`)."""
    path = Path(path)
    if recipe is not None:
        from scalinglab.laws.hyperparams import Recipe

        return with_recipe(load_design(path), Recipe.read(recipe))
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
    """Build a design from the parsed TOML tables (see the module docstring). The
    training options of ``[train]``, of each ``[[runs]]`` entry and the axes of
    ``[grid]`` are checked against :class:`~scalinglab.train.config.TrainConfig`: an
    unknown key is an error naming the file, the table and the key, never ignored."""
    options = training_options()
    _check_options(data.get("train", {}), options, "[train]", source)
    for index, entry in enumerate(_runs_entries(data)):
        extra = {key: value for key, value in entry.items() if key not in ENTRY_KEYS}
        _check_options(extra, options, f"[[runs]] entry {index + 1}", source)
    grid = data.get("grid", {})
    if not isinstance(grid, Mapping):
        raise InputError("[grid] must be a table", fix="write [grid] with lists", file=source)
    _check_options(grid, options, "[grid]", source)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise InputError(
                f"[grid] {key} is not a list of values",
                fix=f"write {key} = [value, value, ...]",
                file=source,
                column=key,
            )
    design = _build(data, source)
    try:
        return with_grid(design, grid)
    except ScalingLabError as error:
        raise InputError(str(error), fix="list distinct values", file=source) from error


def training_options() -> set[str]:
    """Training options a design may set per sweep, per run or as a grid axis: the
    fields of :class:`~scalinglab.train.config.TrainConfig` that the design does not set
    itself (shape, tokens, seed, schedule, output folder)."""
    from scalinglab.train.config import TrainConfig

    return {f.name for f in dataclasses.fields(TrainConfig)} - _RUN_KEYS


def _check_options(table: Mapping[str, Any], known: set[str], where: str, source: str) -> None:
    for key in table:
        if key not in known:
            reserved = key in _RUN_KEYS
            raise InputError(
                f"{'reserved' if reserved else 'unknown'} training option {key!r} in {where}",
                fix=f"use options of scalinglab train except {', '.join(sorted(_RUN_KEYS))}"
                if reserved
                else f"known options: {', '.join(sorted(known))}",
                file=source,
                column=key,
            )


def _runs_entries(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = data.get("runs", [])
    return [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []


def _build(data: Mapping[str, Any], source: str) -> SweepDesign:
    sweep = _table(data, "sweep", source)
    _check_keys(sweep, _SWEEP_KEYS, "sweep", source)
    known_tables = {"sweep", "train", "runs", "grid", *_SECTION_KEYS}
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
        "schedule": sweep.get("schedule"),
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
        return explicit_runs(name, entries, **common)
    section = _table(data, kind, source)
    _check_keys(section, _SECTION_KEYS[kind], kind, source)
    try:
        if kind == "isoflop":
            return isoflop_grid(
                name,
                [float(b) for b in _required(section, "budgets", kind, source)],
                **_pick(section, ("sizes_per_budget", "width", "tokens_per_param", "max_tokens")),
                **common,
            )
        sizes = {key: _required(section, key, kind, source) for key in ("n_min", "n_max", "count")}
        if kind == "ladder":
            return model_ladder(
                name,
                float(sizes["n_min"]),
                float(sizes["n_max"]),
                int(sizes["count"]),
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
