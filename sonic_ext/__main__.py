"""`python -m sonic_ext` runs the command-line interface."""

from .adapters.cli import main

raise SystemExit(main())
