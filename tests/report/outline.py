"""What a reader finds in a rendered manuscript, renderer-independent: for comparing Quarto's
output with the pandoc route's, and for checking PDF pages.

- :func:`html_outline`: figures and tables (id, numbered caption), cross-references (target and
  text, in reading order), citations (keys, in order) and the bibliography entries of an HTML file.
- :func:`pdf_captions`: the "Figure N: …" and "Table N: …" captions of a PDF.
- :func:`page_problems`: per page of a PDF, text below the footer's top (a table run past the
  page's bottom, printed over the footer), a page holding only headings, a page ending in a heading.
"""

from __future__ import annotations

import html as htmllib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["Outline", "html_headings", "html_outline", "page_problems", "pdf_captions", "pdf_pages_text"]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(text).replace("\xa0", " ")).strip()


@dataclass
class Outline:
    figures: list[tuple[str, str]] = field(default_factory=list)
    tables: list[tuple[str, str]] = field(default_factory=list)
    xrefs: list[tuple[str, str]] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


class _Walker(HTMLParser):
    """Collects ids of figure/table containers, their captions, links and citation spans."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = Outline()
        self._open: list[tuple[str, str | None]] = []  # (tag, figure/table id it opens)
        self._float: str | None = None
        self._caption: list[str] | None = None
        self._link: tuple[str, list[str]] | None = None
        self._skip = 0  # inside <script>/<style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        ident = a.get("id") or ""
        opened = None
        is_float = re.fullmatch(r"(fig|tbl)-[\w-]+", ident) and tag in ("div", "figure", "table")
        if is_float and self._float is None:
            self._float, opened = ident, ident
        self._open.append((tag, opened))
        if self._float and tag in ("figcaption", "caption") and self._caption is None:
            self._caption = []
        if (
            tag == "a"
            and (a.get("href") or "").startswith("#")
            and re.match(r"#(fig|tbl|sec)-", a.get("href") or "")
        ):
            self._link = (a["href"][1:], [])
        if tag == "span" and "citation" in (a.get("class") or "").split() and a.get("data-cites"):
            self.out.citations.extend(a["data-cites"].split())
        if re.fullmatch(r"ref-[\w:-]+", ident):
            self.out.references.append(ident.removeprefix("ref-"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        if tag in ("figcaption", "caption") and self._caption is not None and self._float:
            caption = _norm("".join(self._caption))
            kind = self.out.figures if self._float.startswith("fig-") else self.out.tables
            if not any(ident == self._float for ident, _ in kind):
                kind.append((self._float, caption))
            self._caption = None
        if tag == "a" and self._link is not None:
            target, parts = self._link
            self.out.xrefs.append((target, _norm("".join(parts))))
            self._link = None
        while self._open:
            open_tag, opened = self._open.pop()
            if opened is not None:
                self._float = None
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._caption is not None:
            self._caption.append(data)
        if self._link is not None:
            self._link[1].append(data)


def html_outline(path: Path) -> Outline:
    walker = _Walker()
    walker.feed(path.read_text(encoding="utf-8"))
    return walker.out


def html_headings(path: Path) -> list[str]:
    """Heading texts (h1–h6) of an HTML file, without section numbers."""
    raw = path.read_text(encoding="utf-8")
    found = []
    for match in re.finditer(r"<h([1-6])[^>]*>(.*?)</h\1>", raw, re.S):
        text = _norm(re.sub(r"<[^>]+>", " ", match.group(2)))
        text = re.sub(r"^\d+(\.\d+)*\s+", "", text)
        if text:
            found.append(text)
    return found


def pdf_captions(pdf: Path) -> list[str]:
    """Numbered captions of a PDF in reading order ("Figure 3", "Table 12"), from pdftotext."""
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\b((?:Figure|Table) \d+):", text)


def pdf_pages_text(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


@dataclass(frozen=True)
class _Line:
    text: str
    y_min: float
    y_max: float


def _pages(pdf: Path) -> list[list[_Line]]:
    out = subprocess.run(
        ["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    root = ET.fromstring(
        re.sub(r"<!DOCTYPE[^>]*>", "", out).replace(' xmlns="http://www.w3.org/1999/xhtml"', "")
    )
    pages = []
    for page in root.iter("page"):
        lines = []
        for line in page.iter("line"):
            words = [w.text or "" for w in line.iter("word")]
            lines.append(_Line(" ".join(words), float(line.get("yMin")), float(line.get("yMax"))))
        pages.append(lines)
    return pages


def _images_per_page(pdf: Path) -> set[int]:
    if shutil.which("pdfimages") is None:
        return set()
    out = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = set()
    for row in out.splitlines()[2:]:
        fields = row.split()
        if fields and fields[0].isdigit():
            pages.add(int(fields[0]))
    return pages


def page_problems(pdf: Path, *, footer: str, headings: list[str]) -> list[str]:
    """Problems a reader sees when paging through ``pdf``; an empty list when there are none.

    ``footer`` is the text stamped at the bottom of every page; ``headings`` the section titles
    (without numbers), e.g. from :func:`html_headings` of the same document.
    """
    footer_words = footer.split()
    heading_set = {_norm(h) for h in headings}
    with_images = _images_per_page(pdf)
    problems = []
    pages = _pages(pdf)

    def is_heading(text: str) -> bool:
        return _norm(re.sub(r"^\d+(\.\d+)*\s+", "", text)) in heading_set

    for number, lines in enumerate(pages, start=1):
        stamped = [line for line in lines if line.text.split()[: len(footer_words)] == footer_words]
        if not stamped:
            problems.append(f"page {number}: no footer {footer!r}")
            continue
        foot = max(stamped, key=lambda line: line.y_min)  # the note may also be in the text above
        top = foot.y_min
        body = [line for line in lines if line is not foot and not re.fullmatch(r"\d+", line.text.strip())]
        below = [line.text for line in body if line.y_max > top + 0.5]
        if below:
            problems.append(f"page {number}: text below the footer's top: {below[:3]}")
        if not body and number not in with_images:
            problems.append(f"page {number}: empty")
            continue
        texts = [line.text for line in sorted(body, key=lambda line: line.y_min)]
        if texts and all(is_heading(t) for t in texts) and number not in with_images:
            problems.append(f"page {number}: holds only the heading(s) {texts}")
        elif texts and is_heading(texts[-1]) and number < len(pages):
            problems.append(f"page {number}: ends with the heading {texts[-1]!r}")
    return problems
