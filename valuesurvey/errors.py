"""Exceptions raised by valuesurvey.

::

    ValuesurveyError            every error the CLI turns into a one-line message and a non-zero exit
    ├── ConfigError             a broken study.yaml, instrument file or mapping file
    ├── DataError               a malformed data file (names the file and, where known, the column)
    ├── RError                  R raised an error (carries R's own message and the call)
    ├── MissingComponentError   a required program or package is not installed (carries the fix)
    └── ElicitError             see valuesurvey.elicit (ProviderError, RateLimitError, ...)
"""

from __future__ import annotations


class ValuesurveyError(Exception):
    """Base class: its message is one line that says what failed and for which input."""


class ConfigError(ValuesurveyError):
    """A configuration file is invalid."""


class DataError(ValuesurveyError):
    """A data file is missing, unreadable or invalid."""

    def __init__(self, message: str, *, path: object = None, column: str | None = None) -> None:
        prefix = ""
        if path is not None:
            prefix = f"{path}: "
        if column is not None:
            prefix += f"column {column!r}: "
        super().__init__(prefix + message)
        self.path = path
        self.column = column


class RError(ValuesurveyError):
    """An error raised inside R."""

    def __init__(self, message: str, *, call: str | None = None) -> None:
        text = message.strip().replace("\n", " ")
        super().__init__(f"R error in {call}: {text}" if call else f"R error: {text}")
        self.r_message = message
        self.call = call


class MissingComponentError(ValuesurveyError):
    """A required component is not installed; ``fix`` is the command that installs it."""

    def __init__(self, component: str, fix: str) -> None:
        super().__init__(f"{component} is not available; install it with: {fix}")
        self.component = component
        self.fix = fix


class ElicitError(ValuesurveyError):
    """Base class of elicitation errors (see valuesurvey.elicit)."""
