"""The base of every error a user can cause: a config, a file, an argument or the machine's state that
munit cannot use. The CLI prints these as one line; anything else is a bug and shows its traceback."""

from __future__ import annotations


class UserError(Exception):
    """Something the user gave or has cannot be used; the message names it and what was expected."""


class UsageError(UserError, ValueError):
    """An argument that cannot be used: a direction, a style for a method without one, a count, a device."""
