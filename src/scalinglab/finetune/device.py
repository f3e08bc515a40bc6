"""Which device fine-tuning and prediction run on: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

``auto`` takes the GPU when torch sees one (CUDA), else the CPU. Asking for CUDA on a
machine without it is a one-line :class:`ScalingLabError` (exit 2 in the CLI), not a
traceback from deep inside torch.
"""

from __future__ import annotations

import torch

from scalinglab.errors import ScalingLabError

DEVICES_HELP = "auto (CUDA when torch sees a GPU, else CPU), cpu, cuda or cuda:N"


def resolve_device(requested: str) -> torch.device:
    """``auto`` -> CUDA when torch sees a GPU, else CPU; ``cuda`` without one is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ScalingLabError(
            f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ScalingLabError(
            f"--device {requested}: torch {torch.__version__} sees no CUDA GPU here; "
            "use --device cpu (or auto)"
        )
    if device.type not in ("cpu", "cuda"):
        raise ScalingLabError(f"unsupported device {requested!r}; use auto, cpu, cuda or cuda:N")
    return device
