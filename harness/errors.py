"""Errors a user can act on. Messages say what was expected, what was found and what to do."""

from __future__ import annotations


class EdgebenchError(Exception):
    exit_code = 2


class UsageError(EdgebenchError):
    """Bad input from the user: a file, a flag, a suite."""


class GateFailed(EdgebenchError):
    exit_code = 3


class RegressionFound(EdgebenchError):
    exit_code = 4
