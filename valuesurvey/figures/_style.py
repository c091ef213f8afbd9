"""One figure style for the whole package: Okabe–Ito colours, print-sized fonts, a synthetic footer."""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (and no display on servers)

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from valuesurvey._io import atomic_path

__all__ = ["OKABE_ITO", "ORIGIN_COLOURS", "country_colours", "figure_style", "save_figure"]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
    "grey": "#999999",
}
#: China and the USA keep the same colours in every figure (humans and LLMs alike).
ORIGIN_COLOURS = {"CN": OKABE_ITO["vermillion"], "US": OKABE_ITO["blue"]}
LANGUAGE_COLOURS = {"en": OKABE_ITO["sky"], "zh": OKABE_ITO["orange"]}
DIMENSION_COLOURS = [
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["green"],
    OKABE_ITO["purple"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["sky"],
    OKABE_ITO["yellow"],
]
COUNTRY_NAMES = {"CN": "China", "US": "USA"}
#: Colours of the other countries, in the study's order: the rest of the Okabe–Ito palette, so that
#: up to 8 countries (China and the USA included) each get a distinct colour-blind-safe colour.
COUNTRY_PALETTE = (
    OKABE_ITO["green"],
    OKABE_ITO["orange"],
    OKABE_ITO["purple"],
    OKABE_ITO["sky"],
    OKABE_ITO["yellow"],
    OKABE_ITO["black"],
)
#: Origins that are no country (none, a company label).
NO_COUNTRY_COLOUR = OKABE_ITO["grey"]


def country_colours(codes: Sequence[str]) -> dict[str, str]:
    """A colour per country (and per non-country origin): China and the USA keep theirs, the others
    take the next colour of :data:`COUNTRY_PALETTE` (cycling after 8 countries); ``none`` and
    company labels are grey.

    >>> country_colours(["CN", "US", "TW", "SG", "none"])["TW"], country_colours(["DE"])["DE"]
    ('#009E73', '#009E73')
    """
    out: dict[str, str] = {}
    rest = iter(COUNTRY_PALETTE * (1 + len(codes) // len(COUNTRY_PALETTE)))
    for code in codes:
        if code in ORIGIN_COLOURS:
            out[code] = ORIGIN_COLOURS[code]
        elif len(code) != 2:
            out[code] = NO_COUNTRY_COLOUR
        else:
            out[code] = next(rest)
    return out


#: Characters of the 7 pt bold footer that fit in one inch of figure width (DejaVu Sans, with margin).
FOOTER_CHARS_PER_INCH = 15

_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "savefig.dpi": 200,
    "svg.fonttype": "none",  # keep text as text in SVG (searchable, smaller)
    "svg.hashsalt": "valuesurvey",  # deterministic SVG ids
}


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Apply the package style inside the block only (no global rcParams change)."""
    with plt.rc_context(_RC):
        yield


def save_figure(fig: Figure, out_dir: Path, name: str, *, footer: str | None) -> list[Path]:
    """Write ``name``.png and ``name``.svg atomically, stamping ``footer`` at the bottom, then close."""
    if footer:
        # Wrapped to the figure's width: one long line would make bbox_inches="tight" stretch the
        # canvas sideways (a 3794 px wide PNG for a 6 inch figure).
        width = max(40, int(fig.get_figwidth() * FOOTER_CHARS_PER_INCH))
        fig.text(  # just below the figure: bbox_inches="tight" grows the canvas to hold it
            0.5,
            -0.01,
            textwrap.fill(footer, width=width),
            ha="center",
            va="top",
            fontsize=7,
            color=OKABE_ITO["vermillion"],
            weight="bold",
        )
    paths = []
    for ext in ("png", "svg"):
        target = out_dir / f"{name}.{ext}"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, bbox_inches="tight", metadata=_metadata(ext))
        paths.append(target)
    plt.close(fig)
    return paths


def _metadata(ext: str) -> dict[str, str | None]:
    # No creation date, so identical data give identical files.
    return {"Date": None} if ext == "svg" else {"Software": "valuesurvey"}
