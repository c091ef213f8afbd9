"""Countries and languages as data: ISO 3166 codes, CLDR names, official languages.

Every stage names a country by its ISO 3166-1 alpha-2 code (``CN``, ``US``, ``TW``): the humans
table's ``nationality``, a model's ``origin`` and the study's ``countries``. Users may write alpha-2,
alpha-3 (``CHN``, what the WVS release uses), the numeric code (``156``) or the English name;
:func:`get_country` turns each into the one :class:`Country`. Names in any language come from the
Unicode CLDR through Babel, codes from pycountry's ISO 3166 tables; nothing here is a hand-written
translation.

The WVS-7 release also codes one entity that ISO 3166 lacks: Northern Ireland (``NIR``, 909), kept as
a country of its own with the code ``XI`` (the code the UK and the EU use for it).

>>> get_country("CHN").alpha2, get_country(840).alpha3, get_country("Taiwan").name("zh")
('CN', 'USA', '台湾')
>>> get_country("TW").official_languages
('zh-Hant', 'nan-Hant', 'hak-Hant')
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from valuesurvey.errors import ConfigError

__all__ = [
    "COUNTRY_FORMS",
    "Country",
    "UnknownCountryError",
    "UnknownLanguageError",
    "all_countries",
    "get_country",
    "language_name",
    "lookup",
    "normalize_language",
    "parse_countries",
]

#: What a user may write for a country, for error messages.
COUNTRY_FORMS = "an ISO 3166 alpha-2 code (CN), alpha-3 code (CHN), numeric code (156) or English name"


class UnknownCountryError(ConfigError):
    """A value that names no ISO 3166 country."""


class UnknownLanguageError(ConfigError):
    """A value that is not a BCP-47 language tag known to the CLDR."""


@dataclass(frozen=True, order=True)
class Country:
    """One country, by its ISO 3166-1 codes.

    ``name(language)`` is the CLDR name in that language (English when the CLDR has none).
    """

    alpha2: str
    alpha3: str
    numeric: int | None
    english_name: str

    def __str__(self) -> str:
        return self.alpha2

    def name(self, language: str = "en") -> str:
        """The country's name in ``language`` (a BCP-47 tag), from the CLDR.

        >>> get_country("US").name("en"), get_country("US").name("zh"), get_country("DE").name("de")
        ('United States', '美国', 'Deutschland')
        """
        return _cldr_territory_name(self.alpha2, normalize_language(language)) or self.english_name

    @property
    def official_languages(self) -> tuple[str, ...]:
        """Official and de-facto official languages (BCP-47), most spoken first, from the CLDR."""
        from babel.languages import get_official_languages

        return tuple(code.replace("_", "-") for code in get_official_languages(self.alpha2, de_facto=True))


_NON_ISO = (Country("XI", "NIR", 909, "Northern Ireland"),)


@functools.cache
def all_countries() -> tuple[Country, ...]:
    """Every ISO 3166-1 country (and the WVS's Northern Ireland), ordered by alpha-2 code."""
    import pycountry

    iso = (
        Country(c.alpha_2, c.alpha_3, int(c.numeric), getattr(c, "common_name", None) or c.name)
        for c in pycountry.countries
    )
    return tuple(sorted((*iso, *_NON_ISO)))


@functools.cache
def _index() -> dict[str, Country]:
    import pycountry

    index: dict[str, Country] = {}
    for country in all_countries():
        keys = [country.alpha2, country.alpha3, country.english_name]
        if country.numeric is not None:
            keys.append(str(country.numeric))
        record = pycountry.countries.get(alpha_2=country.alpha2)
        if record is not None:
            keys += [record.name, getattr(record, "official_name", "")]
        for language in ("en", "zh"):  # the shipped prompt languages: WVS value labels use them
            keys.append(_cldr_territory_name(country.alpha2, language) or "")
        for key in keys:
            if key:
                index.setdefault(key.strip().casefold(), country)
    return index


def lookup(value: object) -> Country | None:
    """The country a code, number or name denotes, or ``None``.

    >>> lookup("CHN").alpha2, lookup(840).alpha3, lookup("United States").alpha2, lookup("中国").alpha2
    ('CN', 'USA', 'US', 'CN')
    >>> lookup(156.0).alpha2, lookup("Atlantis") is None
    ('CN', True)
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, Country):
        return value
    return _index().get(str(value).strip().casefold())


def get_country(value: object, *, field: str = "country") -> Country:
    """The country ``value`` names; :class:`UnknownCountryError` names ``field`` and the valid forms.

    >>> get_country("XX", field="countries[2]")
    Traceback (most recent call last):
    valuesurvey.countries.UnknownCountryError: countries[2]: unknown country 'XX'; write an ISO 3166 alpha-2 code (CN), alpha-3 code (CHN), numeric code (156) or English name
    """
    country = lookup(value)
    if country is None:
        raise UnknownCountryError(f"{field}: unknown country {value!r}; write {COUNTRY_FORMS}")
    return country


def parse_countries(
    codes: str | Iterable[object], *, field: str = "countries", allow_all: bool = False
) -> tuple[Country, ...] | None:
    """Countries from a comma-separated string or a list, in order, each once; ``all`` (when
    ``allow_all``) gives ``None``: every country there is.

    >>> [c.alpha2 for c in parse_countries("CHN,USA,CN")]
    ['CN', 'US']
    >>> parse_countries("all", allow_all=True) is None
    True
    """
    if allow_all and isinstance(codes, str) and codes.strip().casefold() == "all":
        return None
    if isinstance(codes, str):
        codes = [part.strip() for part in codes.split(",") if part.strip()]
    result: list[Country] = []
    for i, code in enumerate(codes):
        country = get_country(code, field=f"{field}[{i}]")
        if country not in result:
            result.append(country)
    if not result:
        raise ConfigError(f"{field}: no country selected")
    return tuple(result)


@functools.cache
def normalize_language(tag: str) -> str:
    """A BCP-47 language tag in its canonical form (``zh-hant`` → ``zh-Hant``), or an error.

    >>> normalize_language("en"), normalize_language("zh_hant"), normalize_language("pt-BR")
    ('en', 'zh-Hant', 'pt-BR')
    """
    from babel import Locale, UnknownLocaleError

    try:
        locale = Locale.parse(str(tag).replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        raise UnknownLanguageError(
            f"unknown language {tag!r}; write a BCP-47 language tag the CLDR knows (en, zh, de, pt-BR)"
        ) from None
    return "-".join(part for part in (locale.language, locale.script, locale.territory) if part)


def language_name(tag: str, in_language: str = "en") -> str:
    """The name of language ``tag`` in ``in_language``, from the CLDR.

    >>> language_name("zh"), language_name("de", "de"), language_name("en", "zh")
    ('Chinese', 'Deutsch', '英语')
    """
    from babel import Locale

    target = Locale.parse(normalize_language(tag).replace("-", "_"))
    return target.get_display_name(Locale.parse(normalize_language(in_language).replace("-", "_")))


@functools.cache
def _cldr_territory_name(alpha2: str, language: str) -> str | None:
    from babel import Locale

    return Locale.parse(language.replace("-", "_")).territories.get(alpha2)
