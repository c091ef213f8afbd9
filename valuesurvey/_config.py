"""Reading configuration files (study.yaml, registries, mappings) with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from valuesurvey.errors import ConfigError

__all__ = ["parse_yaml_mapping", "read_yaml_mapping", "validation_message"]


def parse_yaml_mapping(text: str, *, source: object, expected: str) -> dict[str, Any]:
    """Parse YAML whose top level must be a mapping; ``expected`` says what the mapping holds.

    >>> parse_yaml_mapping("a: 1", source="x.yaml", expected="fields")
    {'a': 1}
    >>> parse_yaml_mapping("- 1", source="x.yaml", expected="study fields")
    Traceback (most recent call last):
    valuesurvey.errors.ConfigError: x.yaml: expected a mapping of study fields at the top level
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of {expected} at the top level")
    return data


def read_yaml_mapping(path: Path, *, what: str, expected: str) -> dict[str, Any]:
    """Read ``path`` (a ``what`` file) and parse it with :func:`parse_yaml_mapping`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} file ({exc.strerror})") from None
    return parse_yaml_mapping(text, source=path, expected=expected)


def validation_message(source: object, exc: ValidationError, *, where: str | None = None) -> str:
    """``source: field a.b: message (and N more)`` for the first error of a pydantic validation."""
    first = exc.errors()[0]
    location = where or ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{source}: field {location}: {first['msg']}{more}"
