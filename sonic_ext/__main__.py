"""`python -m sonic_ext` runs the command-line interface."""

from .cli import main

raise SystemExit(main())
