"""Country codes: ISO 3166 alpha-3 (what users pass), alpha-2 (the humans table), numeric (WVS)."""

from __future__ import annotations

from dataclasses import dataclass

from valuesurvey.errors import ConfigError


@dataclass(frozen=True)
class Country:
    alpha3: str
    alpha2: str
    numeric: int
    names: tuple[str, ...]


#: The nationalities the study contract knows (valuesurvey.study.Origin: CN, US).
COUNTRIES = (
    Country("CHN", "CN", 156, ("China", "People's Republic of China", "中国", "Chinese")),
    Country("USA", "US", 840, ("United States", "United States of America", "USA", "US", "America")),
)
_BY_KEY: dict[str, Country] = {}
for _c in COUNTRIES:
    for _key in (_c.alpha3, _c.alpha2, str(_c.numeric), *_c.names):
        _BY_KEY[_key.casefold()] = _c


def lookup(value: object) -> Country | None:
    """The country a code, number or name denotes, or ``None``.

    >>> lookup("CHN").alpha2, lookup(840).alpha3, lookup("United States").alpha2
    ('CN', 'USA', 'US')
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _BY_KEY.get(str(value).strip().casefold())


def parse_countries(codes: object) -> tuple[Country, ...]:
    """Validate the ``countries`` argument (alpha-3 codes; alpha-2 and names are accepted too)."""
    if isinstance(codes, str):
        codes = [part for part in codes.split(",") if part.strip()]
    result: list[Country] = []
    for code in codes:  # type: ignore[attr-defined]
        country = lookup(code)
        if country is None:
            valid = ", ".join(c.alpha3 for c in COUNTRIES)
            raise ConfigError(f"countries: unknown country {code!r}; valid values: {valid}")
        if country not in result:
            result.append(country)
    if not result:
        raise ConfigError("countries: no country selected")
    return tuple(result)
