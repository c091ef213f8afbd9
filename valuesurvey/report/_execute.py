"""Run a parsed .qmd through a Jupyter kernel and assemble pandoc markdown from the outputs.

Cells run in one kernel, in document order, with each inline expression as its own cell right after
the code cells that precede it. Parameters are injected as a cell after the one tagged
``parameters`` (as Quarto and Papermill do).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from valuesurvey.errors import MissingComponentError, ValuesurveyError
from valuesurvey.report._qmd import INLINE_RE, CodeCell, QmdDocument

__all__ = ["RenderError", "execute_document"]

KERNEL = "python3"


class RenderError(ValuesurveyError):
    """The manuscript could not be rendered (a cell failed, or pandoc or typst did)."""


def _param_source(params: dict[str, Any]) -> str:
    return "# Injected Parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items())


def _notebook(doc: QmdDocument, params: dict[str, Any]) -> tuple[Any, list[list[int]]]:
    """Build the notebook; return it and, per chunk, the indices of its notebook cells."""
    cells = []
    where: list[list[int]] = []
    injected = False
    for chunk in doc.chunks:
        if isinstance(chunk, CodeCell):
            cells.append(nbformat.v4.new_code_cell(chunk.source))
            where.append([len(cells) - 1])
            if "parameters" in (chunk.options.get("tags") or []) and params:
                cells.append(nbformat.v4.new_code_cell(_param_source(params)))
                injected = True
        else:
            indices = []
            for match in INLINE_RE.finditer(chunk.text):
                cells.append(nbformat.v4.new_code_cell(match.group(2).strip()))
                indices.append(len(cells) - 1)
            where.append(indices)
    if params and not injected:
        cells.insert(0, nbformat.v4.new_code_cell(_param_source(params)))
        where = [[i + 1 for i in indices] for indices in where]
    return nbformat.v4.new_notebook(cells=cells), where


def _run(nb: Any, cwd: Path, timeout: int) -> None:
    client = NotebookClient(
        nb, kernel_name=KERNEL, timeout=timeout, resources={"metadata": {"path": str(cwd)}}
    )
    try:
        client.execute()
    except NoSuchKernel as exc:
        raise MissingComponentError(
            f"the Jupyter kernel {KERNEL!r}", "python -m ipykernel install --sys-prefix"
        ) from exc
    except CellExecutionError as exc:
        first = str(exc).strip().splitlines()
        raise RenderError(f"a code cell failed: {first[-1] if first else exc}") from exc
    except CellTimeoutError as exc:
        raise RenderError(f"a code cell ran longer than {timeout} s") from exc


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _inline_text(cell: Any, source: str) -> str:
    for output in cell.outputs:
        data = output.get("data") or {}
        if "text/markdown" in data:
            return data["text/markdown"]
        if "text/plain" in data:
            text = data["text/plain"]
            if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
                text = text[1:-1]  # a plain str repr: show the text, as Quarto does
            return text
    raise RenderError(f"inline expression `{{python}} {source}` produced no value")


def _image_md(data: dict[str, Any], out_dir: Path, stem: str, caption: str, attrs: str) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.png"
    path.write_bytes(base64.b64decode(data["image/png"]))
    return f"![{caption}]({path.relative_to(out_dir.parent).as_posix()}){attrs}"


def _cell_markdown(chunk: CodeCell, cell: Any, out_dir: Path, index: int) -> str:
    opts = chunk.options
    if opts.get("include") is False:
        return ""
    parts = []
    if opts.get("echo") is True:
        parts.append(f"```python\n{chunk.source}\n```")
    asis = opts.get("output") == "asis"
    label = str(opts.get("label") or "")
    images = 0
    if opts.get("output") is not False:
        for output in cell.outputs:
            kind = output.get("output_type")
            if kind == "stream" and output.get("name") == "stdout":
                text = _ANSI.sub("", output["text"])
                parts.append(text if asis else f"```\n{text.rstrip()}\n```")
            elif kind in ("display_data", "execute_result"):
                data = output.get("data") or {}
                if "text/markdown" in data:
                    parts.append(data["text/markdown"])
                elif "image/png" in data:
                    fig = label.startswith("fig-") and images == 0
                    caption = str(opts.get("fig-cap", "")) if fig else ""
                    attrs = f"{{#{label}}}" if fig else ""
                    parts.append(_image_md(data, out_dir, f"cell{index}-{images}", caption, attrs))
                    images += 1
                elif "text/plain" in data:
                    parts.append(data["text/plain"] if asis else f"```\n{data['text/plain']}\n```")
            elif kind == "error":
                raise RenderError(f"cell {chunk.label}: {output.get('ename')}: {output.get('evalue')}")
    text = "\n\n".join(parts)
    if label.startswith("tbl-") and opts.get("tbl-cap"):
        text += f"\n\n: {opts['tbl-cap']} {{#{label}}}"
    return text


def execute_document(doc: QmdDocument, *, cwd: Path, params: dict[str, Any], timeout: int = 600) -> str:
    """Execute ``doc`` with cwd ``cwd`` and return its body as pandoc markdown (no front matter)."""
    nb, where = _notebook(doc, params)
    _run(nb, cwd, timeout)
    out_dir = cwd / "_cells"
    pieces = []
    for chunk, indices in zip(doc.chunks, where, strict=True):
        if isinstance(chunk, CodeCell):
            pieces.append(_cell_markdown(chunk, nb.cells[indices[0]], out_dir, indices[0]))
            continue
        values = iter([_inline_text(nb.cells[i], nb.cells[i].source) for i in indices])
        pieces.append(INLINE_RE.sub(lambda m, values=values: m.group(1) + next(values), chunk.text))
    return "\n".join(pieces)
