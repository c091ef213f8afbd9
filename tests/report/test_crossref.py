"""Cross-reference resolution and .qmd parsing (no kernel, no pandoc)."""

from __future__ import annotations

import pytest

from valuesurvey.errors import ConfigError
from valuesurvey.report._crossref import resolve_crossrefs
from valuesurvey.report._qmd import CodeCell, parse_qmd

DOC = """# Intro {#sec-intro}

## Part {#sec-part}

# Unnumbered {.unnumbered}

# Second {#sec-two}

See @sec-two, @sec-part, [@fig-b] and @tbl-t; unknown @fig-nope; an email a@fig-x.org stays.

![Second plot](b.png){#fig-b width=50%}
![First? no, second in order](c.png){#fig-c}

| a | b |
|--:|--:|
| 1 | 2 |

: Numbers {#tbl-t}

```
@fig-b inside code stays
```
"""


def test_numbers_and_links() -> None:
    out, refs = resolve_crossrefs(DOC)
    assert refs.numbers == {
        "sec-intro": "1",
        "sec-part": "1.1",
        "sec-two": "2",
        "fig-b": "1",
        "fig-c": "2",
        "tbl-t": "1",
    }
    assert (
        "See [Section 2](#sec-two), [Section 1.1](#sec-part), [Figure 1](#fig-b) and [Table 1](#tbl-t)" in out
    )
    assert "unknown ?@fig-nope" in out and refs.unresolved == ["fig-nope"]
    assert "a@fig-x.org" in out
    assert "![Figure 2: First? no, second in order](c.png){#fig-c}" in out
    assert "@fig-b inside code stays" in out


def test_table_is_wrapped_in_a_div_with_numbered_caption() -> None:
    out, _ = resolve_crossrefs(DOC)
    lines = out.splitlines()
    start = lines.index("::: {#tbl-t}")
    assert lines[start + 2] == "| a | b |"
    assert ": Table 1: Numbers" in lines and lines[lines.index(": Table 1: Numbers") + 2] == ":::"


def test_parse_cells_options_and_errors() -> None:
    doc = parse_qmd(
        '---\ntitle: X\n---\ntext\n```{python}\n#| label: fig-a\n#| fig-cap: "A"\nplot()\n```\nmore\n'
    )
    cell = doc.chunks[1]
    assert (
        isinstance(cell, CodeCell)
        and cell.options == {"label": "fig-a", "fig-cap": "A"}
        and cell.source == "plot()"
    )
    assert cell.line == 5
    with pytest.raises(ConfigError, match=r"doc.qmd:2: code cell is never closed"):
        parse_qmd("x\n```{python}\n1\n", name="doc.qmd")
    with pytest.raises(ConfigError, match="only python cells"):
        parse_qmd("```{r}\n1\n```\n")
