"""The one kind of error an operator fixes by editing a setting, a file or a command line."""

from __future__ import annotations


class ConfigError(ValueError):
    """A fault in configuration or input: an environment variable, a file (and its row, column or
    entry), a command-line argument. Its message names where the fault is and never quotes a secret;
    `ekino` prints it as one line and exits 2, and Dagster shows it as the cause of a failed load or
    step. A ValueError, so that callers catching bad values keep catching it."""
