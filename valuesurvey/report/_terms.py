"""Readable labels for R's term names, saying the coding (``estimates/coding.csv``).

R names a coded factor's column after the variable and the level the contrast belongs to:
``nationalityCN`` (half-sum, China = +0.5), ``language_congruentyes`` (congruent = +0.5),
``removedCare`` (treatment coded, none removed = 0); interactions join them with ``:``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

__all__ = [
    "DEFAULT_CODING",
    "VariableCoding",
    "coding_from_table",
    "country_name",
    "split_term",
    "term_label",
]

COUNTRY = {"CN": "China", "US": "USA"}
#: Variable names as they read in a table; LLM origin is spelled out to tell it from nationality.
VARIABLE_NAMES = {
    "nationality": "Nationality",
    "origin": "LLM origin",
    "language_congruent": "Language congruent",
    "persona_congruent": "Persona congruent",
    "origin_congruent": "Origin congruent",
    "removed": "Removed",
    "dimension": "Dimension",
    "language": "Language",
    "persona": "Persona",
}


@dataclass(frozen=True)
class VariableCoding:
    """How one factor was coded: ``half_sum`` (positive level +0.5), ``contr_sum`` (sum contrasts,
    ``positive`` the reference level, −1 in every column) or ``treatment`` (reference 0)."""

    scheme: str
    positive: str | None = None
    negative: str | None = None


#: The coding of R/rq_models.R, used when ``estimates/coding.csv`` is absent.
DEFAULT_CODING: dict[str, VariableCoding] = {
    "nationality": VariableCoding("half_sum", "CN", "US"),
    "origin": VariableCoding("half_sum", "CN", "US"),
    "language_congruent": VariableCoding("half_sum", "yes", "no"),
    "persona_congruent": VariableCoding("half_sum", "yes", "no"),
    "origin_congruent": VariableCoding("half_sum", "yes", "no"),
    "removed": VariableCoding("treatment", "none"),
}


def coding_from_table(coding: pd.DataFrame | None, analysis: str) -> dict[str, VariableCoding]:
    """The coding of ``analysis`` read from ``estimates/coding.csv`` rows, over the defaults."""
    out = dict(DEFAULT_CODING)
    if coding is None or coding.empty or "analysis" not in coding.columns:
        return out
    rows = coding[coding["analysis"] == analysis]
    for variable, part in rows.groupby("variable", sort=False):
        scheme = str(part["scheme"].iloc[0])
        if scheme == "half_sum":
            positive = part.loc[part["value"] > 0, "level"]
            negative = part.loc[part["value"] < 0, "level"]
            out[str(variable)] = VariableCoding(
                scheme,
                str(positive.iloc[0]) if len(positive) else None,
                str(negative.iloc[0]) if len(negative) else None,
            )
        elif scheme == "contr_sum":
            reference = part.loc[part.groupby("level")["value"].transform("max") < 0, "level"]
            out[str(variable)] = VariableCoding(scheme, str(reference.iloc[0]) if len(reference) else None)
        else:
            reference = part.loc[part.groupby("level")["value"].transform("max") == 0, "level"]
            out[str(variable)] = VariableCoding(scheme, str(reference.iloc[0]) if len(reference) else None)
    return out


def split_term(term: str, variables: Mapping[str, object] = DEFAULT_CODING) -> list[tuple[str, str]]:
    """Split an R term into (variable, level) parts; the longest known variable prefix wins.

    Examples
    --------
    >>> split_term("nationalityCN:origin_congruentyes")
    [('nationality', 'CN'), ('origin_congruent', 'yes')]
    >>> split_term("(Intercept)")
    [('(Intercept)', '')]
    """
    parts = []
    for piece in term.split(":"):
        names = sorted((v for v in variables if piece.startswith(v)), key=len, reverse=True)
        parts.append((names[0], piece[len(names[0]) :]) if names else (piece, ""))
    return parts


def country_name(code: str | None) -> str:
    """China and the USA as the paper names them, other countries by their CLDR English name,
    origins of no country as written (``none``, ``company:<name>``).

    >>> country_name("US"), country_name("TW"), country_name("company:Example AI")
    ('USA', 'Taiwan', 'Example AI (company)')
    """
    from valuesurvey.countries import lookup

    text = str(code)
    if text in COUNTRY:
        return COUNTRY[text]
    if text.startswith("company:"):
        return f"{text.split(':', 1)[1]} (company)"
    country = lookup(text) if len(text) == 2 else None
    return country.name("en") if country is not None else text


def _main_label(variable: str, level: str, coding: VariableCoding | None) -> str:
    name = VARIABLE_NAMES.get(variable, variable)
    if coding is None:
        return f"{name}: {level}" if level else name
    if coding.scheme == "half_sum":
        if coding.positive in COUNTRY and coding.negative in COUNTRY:
            return f"{name} ({COUNTRY[coding.positive]} +0.5 / {COUNTRY[coding.negative]} −0.5)"
        if variable in ("nationality", "origin") and coding.positive and coding.negative:
            return f"{name} ({country_name(coding.positive)} +0.5 / {country_name(coding.negative)} −0.5)"
        return f"{name} (+0.5)"
    if coding.scheme == "contr_sum" and variable in ("nationality", "origin"):
        reference = f", reference {country_name(coding.positive)}" if coding.positive else ""
        return f"{name}: {country_name(level)} (sum contrast{reference})"
    return f"{name}: {level}"


def _short_label(variable: str, level: str, coding: VariableCoding | None) -> str:
    name = VARIABLE_NAMES.get(variable, variable)
    if coding is not None and coding.scheme == "half_sum":
        return name
    return f"{name}: {level}" if level else name


def term_label(term: str, coding: Mapping[str, VariableCoding] = DEFAULT_CODING) -> str:
    """A reader's label for an R term: main effects say their coding, interactions join short names.

    Examples
    --------
    >>> term_label("nationalityCN")
    'Nationality (China +0.5 / USA −0.5)'
    >>> term_label("language_congruentyes")
    'Language congruent (+0.5)'
    >>> term_label("nationalityCN:originCN:removedCare")
    'Nationality × LLM origin × Removed: Care'
    >>> term_label("(Intercept)")
    'Intercept'
    """
    if term == "(Intercept)":
        return "Intercept"
    known = {**VARIABLE_NAMES, **coding}
    parts = split_term(term, known)
    if len(parts) == 1:
        variable, level = parts[0]
        return _main_label(variable, level, coding.get(variable))
    return " × ".join(_short_label(v, lv, coding.get(v)) for v, lv in parts)
