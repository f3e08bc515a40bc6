"""Scaling-law forms and their fitting. Pure numpy/scipy: never imports torch."""
