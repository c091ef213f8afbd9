"""Parse a .qmd file into front matter, markdown and executable cells (the subset of Quarto we use).

Supported: YAML front matter; ```` ```{python} ```` cells with ``#| key: value`` options (label,
fig-cap, tbl-cap, echo, output, include, tags); inline expressions `` `{python} expr` ``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from valuesurvey.errors import ConfigError

__all__ = ["INLINE_RE", "CodeCell", "Markdown", "QmdDocument", "parse_qmd"]

#: Quarto's own pattern (src/core/execute-inline.ts): a backtick, {lang}, a space, the expression.
INLINE_RE = re.compile(r"(^|[^`])`\{python\}[ \t]([^`]+)`", re.MULTILINE)
_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,})\{(?P<lang>[a-zA-Z0-9_]+)[^}]*\}\s*$")


@dataclass
class Markdown:
    text: str


@dataclass
class CodeCell:
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    line: int = 0

    @property
    def label(self) -> str:
        return str(self.options.get("label") or f"cell at line {self.line}")


@dataclass
class QmdDocument:
    front_matter: dict[str, Any]
    chunks: list[Markdown | CodeCell]


def _split_front_matter(text: str, name: str) -> tuple[dict[str, Any], str, int]:
    if not text.startswith("---"):
        return {}, text, 0
    end = text.find("\n---", 3)
    if end < 0:
        raise ConfigError(f"{name}: front matter opened with --- is never closed")
    try:
        meta = yaml.safe_load(text[3:end]) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: invalid YAML front matter: {exc}") from None
    body_start = text.find("\n", end + 4) + 1
    return meta, text[body_start:], text[:body_start].count("\n")


def _cell_options(lines: list[str], name: str, line: int) -> tuple[dict[str, Any], str]:
    option_lines = []
    while lines and lines[0].startswith("#|"):
        option_lines.append(lines.pop(0)[2:].strip())
    try:
        options = yaml.safe_load("\n".join(option_lines)) or {} if option_lines else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}:{line}: invalid #| cell options: {exc}") from None
    return options, "\n".join(lines)


def parse_qmd(text: str, name: str = "document.qmd") -> QmdDocument:
    """Split a .qmd into front matter and a list of markdown and code chunks.

    Examples
    --------
    >>> doc = parse_qmd("---\\ntitle: T\\n---\\nHi `{python} 1+1`\\n```{python}\\n#| label: x\\nx = 1\\n```\\n")
    >>> doc.front_matter, [type(c).__name__ for c in doc.chunks], doc.chunks[1].options
    ({'title': 'T'}, ['Markdown', 'CodeCell', 'Markdown'], {'label': 'x'})
    """
    meta, body, offset = _split_front_matter(text, name)
    chunks: list[Markdown | CodeCell] = []
    buffer: list[str] = []
    lines = body.split("\n")
    i = 0
    while i < len(lines):
        match = _FENCE_OPEN.match(lines[i])
        if not match:
            buffer.append(lines[i])
            i += 1
            continue
        if match["lang"] != "python":
            raise ConfigError(
                f"{name}:{offset + i + 1}: only python cells are supported, found {match['lang']!r}"
            )
        fence, start = match["fence"], i
        i += 1
        code: list[str] = []
        while i < len(lines) and lines[i].strip() != fence:
            code.append(lines[i])
            i += 1
        if i == len(lines):
            raise ConfigError(f"{name}:{offset + start + 1}: code cell is never closed")
        i += 1
        if buffer:
            chunks.append(Markdown("\n".join(buffer)))
            buffer = []
        options, source = _cell_options(code, name, offset + start + 1)
        chunks.append(CodeCell(source=source, options=options, line=offset + start + 1))
    if buffer:
        chunks.append(Markdown("\n".join(buffer)))
    return QmdDocument(front_matter=meta, chunks=chunks)
