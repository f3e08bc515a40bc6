"""Compute planning from fitted laws. Pure numpy/scipy: never imports torch."""
