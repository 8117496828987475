"""Single source of the package version (read by pyproject and by the running code)."""

__version__ = "0.1.0"
