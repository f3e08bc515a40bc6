"""Allow ``python -m scalinglab``."""

from scalinglab.cli.app import main

main()
