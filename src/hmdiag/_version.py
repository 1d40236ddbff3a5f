"""The package version, in a module of its own so that every stage can read it without
importing the package's notebook functions."""

__version__ = "0.3.0"
