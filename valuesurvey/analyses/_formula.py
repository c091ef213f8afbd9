"""What Python needs to know about an lme4 formula before R parses it: the response, the variables it
names (for checking them against the table's columns), and whether it has random effects.

R parses the formula itself (``stats::as.formula``, ``lme4::findbars``); these checks only let a
typo fail when study.yaml is loaded, with the field and the table's columns in the message.

>>> f = parse_formula("rating ~ origin * language + (1 + language | model) + (1 | item)")
>>> f.response, f.variables, f.has_random
('rating', ('rating', 'origin', 'language', 'model', 'item'), True)
>>> parse_formula("log(cosine + 1) ~ I(rep^2) + poly(rep, 2)").variables
('cosine', 'rep')
>>> parse_formula("~ origin")
Traceback (most recent call last):
ValueError: formula '~ origin' has no response: write it as response ~ predictors, e.g. rating ~ origin
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Formula", "parse_formula"]

#: Names R reads as constants, not columns.
_R_CONSTANTS = frozenset({"TRUE", "FALSE", "T", "F", "NA", "NULL", "Inf", "NaN", "pi"})
_NAME = re.compile(r"`([^`]+)`|(?<![A-Za-z0-9._])([A-Za-z.][A-Za-z0-9._]*)(\s*\()?")


@dataclass(frozen=True)
class Formula:
    text: str
    response: str
    #: Column names in the order they first appear (response first).
    variables: tuple[str, ...]
    has_random: bool


def _names(text: str) -> list[str]:
    names: list[str] = []
    for match in _NAME.finditer(text):
        quoted, bare, call = match.groups()
        name = quoted or bare
        if call or name in _R_CONSTANTS or re.fullmatch(r"\.\d.*", name):
            continue  # a function such as log( or I(, or a constant
        if name not in names:
            names.append(name)
    return names


def parse_formula(text: str) -> Formula:
    """Split an lme4 formula into response and variables; ``ValueError`` says what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("formula is empty: write e.g. rating ~ origin + (1 | model)")
    if text.count("(") != text.count(")"):
        raise ValueError(f"formula {text!r} has unbalanced brackets")
    if text.count("~") != 1:
        raise ValueError(f"formula {text!r} needs exactly one '~' (response ~ predictors)")
    left, right = (part.strip() for part in text.split("~"))
    if not left:
        raise ValueError(
            f"formula {text!r} has no response: write it as response ~ predictors, e.g. rating ~ origin"
        )
    if not right:
        raise ValueError(f"formula {text!r} has no predictors: write 1 for an intercept-only model")
    response = _names(left)
    if len(response) != 1:
        raise ValueError(f"formula {text!r}: the response must be one column, found {response or 'none'}")
    variables = tuple(dict.fromkeys([*response, *_names(right)]))
    return Formula(text.strip(), response[0], variables, "|" in right)
