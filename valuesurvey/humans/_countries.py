"""Country codes for the loaders: every ISO 3166 country (see :mod:`valuesurvey.countries`)."""

from __future__ import annotations

from valuesurvey.countries import Country, lookup, parse_countries

__all__ = ["Country", "lookup", "parse_countries"]
