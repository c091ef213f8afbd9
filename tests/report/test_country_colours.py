"""A colour per country, distinct up to 8 countries; China and the USA keep the paper's colours."""

from __future__ import annotations

from valuesurvey.figures._style import NO_COUNTRY_COLOUR, ORIGIN_COLOURS, country_colours


def test_eight_countries_get_eight_distinct_colours_and_the_paper_keeps_its_own() -> None:
    codes = ["CN", "US", "TW", "SG", "JP", "DE", "IN", "NG"]
    colours = country_colours(codes)
    assert len(set(colours.values())) == 8
    assert colours["CN"] == ORIGIN_COLOURS["CN"] and colours["US"] == ORIGIN_COLOURS["US"]
    # The order of the study decides the others; origins of no country are grey.
    assert country_colours(["DE", "CN"])["DE"] == country_colours(["TW", "US"])["TW"]
    assert country_colours(["CN", "US", "none", "company:Example AI"])["none"] == NO_COUNTRY_COLOUR
    assert (
        country_colours(["CN", "US", "none", "company:Example AI"])["company:Example AI"] == NO_COUNTRY_COLOUR
    )
