"""Errors edgeopt raises for bad input. The CLI turns each into one line on stderr and exit code 2."""

from __future__ import annotations


class EdgeoptError(Exception):
    """Base class: bad input that the user can fix. The message says what, where, and what is allowed."""


class UnitError(EdgeoptError):
    """A quantity like "320KB" or "2ms" that cannot be parsed for the expected dimension."""


class ProfileError(EdgeoptError):
    """A hardware profile that cannot be loaded or does not validate."""


class ModelError(EdgeoptError):
    """A model that cannot be loaded or analysed (missing, corrupt, dynamic shapes, untraceable)."""


class BaselineError(EdgeoptError):
    """A budget baseline file that cannot be read."""


class EdgeoptWarning(UserWarning):
    """Something the user should know that does not stop the work (the CLI prints it as one `warning:` line)."""
