"""One module per model family; each registers its :class:`~scalinglab.models.families.
ModelFamily` when imported. :mod:`scalinglab.models.families` imports every module here on
first lookup, so a new family is one new file in this folder.
"""
