"""Model families. ``families`` (the registry), the declarations in ``family/``,
``shape``, ``counting`` and ``ladder`` are pure Python (no torch); the torch modules live
in ``gpt``, ``bert`` and ``llama`` and are built by ``build_model``, which imports torch
only when first used, so ``import scalinglab.models`` stays torch-free.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "build_model":
        from scalinglab.models.build import build_model

        return build_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
