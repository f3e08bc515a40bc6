"""Model families. ``shape``, ``counting`` and ``ladder`` are pure Python (no torch);
the torch modules live in ``gpt`` and ``bert``."""
