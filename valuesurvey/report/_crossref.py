"""Resolve Quarto cross-references (``@fig-``, ``@tbl-``, ``@sec-``) in pandoc markdown.

Quarto numbers figures, tables and sections and turns ``@fig-x`` into "Figure 1". Pandoc alone does
not, so this pass does it: figures are images with ``{#fig-…}``, tables are pipe tables whose
caption line ends in ``{#tbl-…}``, sections are headings with ``{#sec-…}``. Numbers go into the
captions ("Figure 1: …"); references become links. An unknown reference is left as ``?@id``, as
Quarto does, and reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["CrossRefs", "resolve_crossrefs"]

_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.*?)\s*(?:\{(?P<attrs>[^}]*)\})?\s*$")
_FIGURE = re.compile(
    r"!\[(?P<cap>(?:[^\[\]]|\[[^\]]*\])*)\]\((?P<src>[^)\s]+)\)\{(?P<attrs>[^}]*#(?P<id>fig-[\w-]+)[^}]*)\}"
)
_TABLE_CAPTION = re.compile(r"^:\s+(?P<cap>.*?)\s*\{#(?P<id>tbl-[\w-]+)\}\s*$")
_REF = re.compile(r"(?P<open>\[)?(?<![\w@])@(?P<id>(?:fig|tbl|sec)-[\w-]*\w)(?(open)\])")
_FENCE = re.compile(r"^(`{3,}|~{3,})")
KINDS = {"fig": "Figure", "tbl": "Table", "sec": "Section"}


@dataclass
class CrossRefs:
    numbers: dict[str, str] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)


def _number_headings(lines: list[str], refs: CrossRefs) -> None:
    counters = [0] * 6
    in_code = False
    for line in lines:
        if _FENCE.match(line):
            in_code = not in_code
        if in_code:
            continue
        match = _HEADING.match(line)
        if not match:
            continue
        attrs = match["attrs"] or ""
        if ".unnumbered" in attrs.split() or "-" in attrs.split():
            continue
        level = len(match["hashes"])
        counters[level - 1] += 1
        counters[level:] = [0] * (6 - level)
        ident = re.search(r"#(sec-[\w-]+)", attrs)
        if ident:
            refs.numbers[ident.group(1)] = ".".join(str(c) for c in counters[:level])


def _table_start(lines: list[str], caption_at: int) -> int:
    i = caption_at - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    while i >= 0 and lines[i].lstrip().startswith("|"):
        i -= 1
    return i + 1


def resolve_crossrefs(markdown: str) -> tuple[str, CrossRefs]:
    """Number figures, tables and sections and link every reference to them.

    Examples
    --------
    >>> text = "See @fig-a and [@tbl-b].\\n\\n![A plot](a.png){#fig-a}\\n\\n| x |\\n|--:|\\n| 1 |\\n\\n: Numbers {#tbl-b}"
    >>> out, refs = resolve_crossrefs(text)
    >>> print(out.splitlines()[0])
    See [Figure 1](#fig-a) and [Table 1](#tbl-b).
    >>> refs.numbers
    {'fig-a': '1', 'tbl-b': '1'}
    """
    refs = CrossRefs()
    lines = markdown.split("\n")
    _number_headings(lines, refs)
    figure_count = 0

    def number_figure(match: re.Match[str]) -> str:
        nonlocal figure_count
        figure_count += 1
        refs.numbers[match["id"]] = str(figure_count)
        return f"![Figure {figure_count}: {match['cap']}]({match['src']}){{{match['attrs']}}}"

    out: list[str] = []
    table_count = 0
    in_code = False
    for line in lines:
        if _FENCE.match(line):
            in_code = not in_code
        if in_code:
            out.append(line)
            continue
        caption = _TABLE_CAPTION.match(line)
        if caption:
            table_count += 1
            refs.numbers[caption["id"]] = str(table_count)
            start = _table_start(out, len(out))
            out[start:start] = [f"::: {{#{caption['id']}}}", ""]
            out += [f": Table {table_count}: {caption['cap']}", "", ":::"]
            continue
        out.append(_FIGURE.sub(number_figure, line))

    def link(match: re.Match[str]) -> str:
        ident = match["id"]
        if ident not in refs.numbers:
            refs.unresolved.append(ident)
            return f"?@{ident}"
        return f"[{KINDS[ident[:3]]} {refs.numbers[ident]}](#{ident})"

    resolved = []
    in_code = False
    for line in out:
        if _FENCE.match(line):
            in_code = not in_code
        resolved.append(line if in_code else _REF.sub(link, line))
    return "\n".join(resolved), refs
