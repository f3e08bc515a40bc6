"""scalinglab: scaling laws of language models, measured, fitted and turned into a plan."""

__version__ = "0.1.0"
