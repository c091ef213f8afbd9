"""``valuesurvey demo``: the whole product on this machine, offline, with no keys, in minutes.

The demo writes a complete study directory and runs it end to end:

- human data: the shipped **synthetic** WVS-7 (.sav) and MFQ-2 (OSF layout) files, written by
  :func:`valuesurvey.humans.synthetic.write_synthetic_files` (deterministic, labelled SYNTHETIC);
- models: a **simulated** panel ``sim-cn-01`` … ``sim-cn-10`` and ``sim-us-01`` … ``sim-us-10`` (statistical
  respondents, no network), and the **real** local SmolLM2-135M-Instruct served by llama.cpp on a
  loopback port and asked over HTTP, in logprobs mode (one request per item, language and persona:
  the probability of each scale point gives the expected rating) on MFQ-2 and WVS-7, and asked to
  rank the 25 AI values a few times per language (its invalid rankings are counted, not hidden);
- then analyze (similarity, RQ1-RQ3 with lm and lmer, the ranking study), figures and the report in
  HTML and PDF. Every page and figure carries ``study.synthetic_note``.

Timing on 2 cores (see the README): elicitation of SmolLM2 is most of it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from rich.console import Console

from valuesurvey._io import atomic_path, write_text
from valuesurvey.errors import ConfigError, MissingComponentError
from valuesurvey.pipeline._runner import RunSummary, run_study
from valuesurvey.study import load_study

__all__ = ["DEMO_NOTE", "DemoConfig", "DemoResult", "demo_study_dict", "run_demo", "write_demo_study"]

# Short enough for a one-line figure footer: it is printed on every figure and report page.
DEMO_NOTE = (
    "Demo data: humans SYNTHETIC, sim-* models SIMULATED; only smollm2-local (SmolLM2-135M, local) "
    "was really asked. Draw no conclusions about real people or real LLMs."
)
LOCAL_MODEL_ID = "smollm2-local"
DEMO_SEED = 20251123


@dataclass(frozen=True)
class DemoConfig:
    """The demo's design. The defaults are the shipped demo; tests shrink it."""

    panel_per_origin: int = 10
    """simulated models per origin (sim-cn-01 …, sim-us-01 …)"""
    local_model: bool = True
    """include the real SmolLM2 served by llama.cpp"""
    instruments: tuple[str, ...] = ("mfq2", "wvs7", "ai_values")
    languages: tuple[str, ...] = ("en", "zh")
    personas: tuple[str, ...] = ("none", "cn", "us")
    ranking_repetitions: int = 3
    """rankings per model and language (SmolLM2 rambles to ~400 tokens, ~17 s per ranking on 2 cores)"""
    ranking_retries: int = 1
    ranking_languages: tuple[str, ...] | None = None
    """languages of the ranking task (default: ``languages``)"""
    humans_per_country: int | None = 150
    """respondents per country drawn (seeded) from each shipped synthetic file; None keeps all
    (~2,800 + 2,400 WVS-7 respondents make the RQ3 mixed models take longer than the whole demo)"""
    bootstrap: int = 200
    formats: tuple[str, ...] = ("html", "pdf")
    stages: tuple[str, ...] | None = None
    """run only these stages (default: all)"""
    extra_models: tuple[dict[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class DemoResult:
    study_yaml: Path
    summary: RunSummary
    reports: tuple[Path, ...]
    seconds: float


def _panel(config: DemoConfig) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = []
    for origin in ("CN", "US"):
        for index in range(1, config.panel_per_origin + 1):
            model_id = f"sim-{origin.lower()}-{index:02d}"
            models.append(
                {
                    "id": model_id,
                    "provider": "simulated",
                    "origin": origin,
                    "company": "simulated",
                    # the simulated provider insists on SIMULATED in the name: nobody may mistake it
                    "display_name": f"SIMULATED {origin} respondent {index:02d}",
                }
            )
    return models


def _local_model() -> dict[str, Any]:
    # origin is required by the analysis; SmolLM2 is made by Hugging Face (France/USA): grouped as US.
    return {
        "id": LOCAL_MODEL_ID,
        "provider": "llamacpp",
        "origin": "US",
        "company": "Hugging Face",
        "display_name": "SmolLM2-135M-Instruct (local, llama.cpp)",
        # llama.cpp splits n_ctx between its parallel slots; the Chinese ranking prompt alone is
        # ~1,240 tokens, more than the 1,024 per slot of the default 2,048.
        "options": {"n_ctx": 8192, "parallel": 2},
    }


def _subsample_sav(source: Path, target: Path, country_column: str, n: int, seed: int) -> None:
    """Keep ``n`` respondents per country of an SPSS file, with its labels and missing codes."""
    import pyreadstat

    frame, meta = pyreadstat.read_sav(source, user_missing=True)
    kept = _sample_by(frame, country_column, n, seed)
    with atomic_path(target) as tmp:
        pyreadstat.write_sav(
            kept,
            tmp,
            file_label=f"{meta.file_label} (demo subsample: {n} per country)",
            column_labels=[meta.column_names_to_labels.get(c) for c in kept.columns],
            variable_value_labels=meta.variable_value_labels,
            missing_ranges=meta.missing_ranges,
        )


def _subsample_csv(source: Path, target: Path, country_column: str, n: int, seed: int) -> None:
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    with atomic_path(target) as tmp:
        _sample_by(frame, country_column, n, seed).to_csv(tmp, index=False)


def _sample_by(frame: pd.DataFrame, column: str, n: int, seed: int) -> pd.DataFrame:
    if column not in frame.columns:
        raise ConfigError(f"synthetic file has no {column!r} column to subsample by")
    parts = [
        group.sample(n=min(n, len(group)), random_state=seed) for _, group in frame.groupby(column, sort=True)
    ]
    return pd.concat(parts).sort_index()


def _human_files(
    data_dir: Path, instruments: Sequence[str], per_country: int | None
) -> dict[str, dict[str, Any]]:
    """Write the synthetic human files; pick the WVS-7 .sav and the MFQ-2 OSF-layout .csv.

    With ``per_country`` set, the study uses a seeded subsample of each (``*_demo.*`` files).
    """
    try:
        from valuesurvey.humans.synthetic import SYNTHETIC_FILES, write_synthetic_files
    except ImportError as exc:
        raise MissingComponentError(
            "valuesurvey.humans.synthetic", "a complete valuesurvey checkout"
        ) from exc
    written = {key: data_dir / name for key, name in SYNTHETIC_FILES.items()}
    # Rewriting would change the bytes (SPSS headers carry a timestamp) and so redo every stage
    # of a demo being resumed: write the files only once.
    if not all(path.exists() for path in written.values()):
        written = {key: Path(path) for key, path in write_synthetic_files(data_dir).items()}
    # key in write_synthetic_files, country column, subsampler
    chosen = {
        "wvs7": ("wvs7_sav", "B_COUNTRY_ALPHA", _subsample_sav),
        "mfq2": ("mfq2_csv", "country", _subsample_csv),
    }
    humans: dict[str, dict[str, Any]] = {}
    for instrument, (key, country_column, subsample) in chosen.items():
        if instrument not in instruments:
            continue
        if key not in written:
            raise ConfigError(f"{data_dir}: write_synthetic_files wrote no {key!r} (wrote {sorted(written)})")
        path = written[key]
        if per_country is not None:
            target = path.with_name(f"{path.stem}_demo{per_country}{path.suffix}")
            if not target.exists():
                subsample(path, target, country_column, per_country, DEMO_SEED)
            path = target
        relative = path.resolve().relative_to(data_dir.parent.resolve())
        humans[instrument] = {"path": relative.as_posix(), "synthetic": True}
    return humans


def demo_study_dict(config: DemoConfig, humans: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The demo's study.yaml content."""
    models = _panel(config) + ([_local_model()] if config.local_model else []) + list(config.extra_models)
    return {
        "name": "demo",
        "title": "valuesurvey demo: a local SmolLM2 and a simulated panel against synthetic human data",
        "instruments": list(config.instruments),
        "languages": list(config.languages),
        "personas": list(config.personas),
        "repetitions": 1,
        "answer_mode": "logprobs",
        "generation": {"temperature": 1.0, "max_tokens": 8, "seed": 20251123, "top_logprobs": 20},
        "models": models,
        "humans": humans,
        "ranking": {
            "repetitions": config.ranking_repetitions,
            "languages": list(config.ranking_languages or config.languages),
            "max_invalid_retries": config.ranking_retries,
        },
        "analysis": {"fits": ["lm", "lmer", "two_stage"], "bootstrap": config.bootstrap, "seed": 20251123},
        "report": {"formats": list(config.formats), "renderer": "auto"},
        "synthetic_note": DEMO_NOTE,
    }


def write_demo_study(out_dir: str | Path, config: DemoConfig = DemoConfig()) -> Path:
    """Write the demo's study directory (synthetic human files and study.yaml); return study.yaml."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    humans = _human_files(out / "data", config.instruments, config.humans_per_country)
    header = (
        "# The valuesurvey demo study, written by `valuesurvey demo`.\n"
        "# Human files are SYNTHETIC; sim-* models are SIMULATED; smollm2-local is a real local model.\n"
    )
    text = header + yaml.safe_dump(demo_study_dict(config, humans), sort_keys=False, allow_unicode=True)
    target = out / "study.yaml"
    if target.exists() and target.read_text(encoding="utf-8") == text:
        return target
    return write_text(target, text)


def run_demo(
    out_dir: str | Path = "demo-study",
    *,
    config: DemoConfig = DemoConfig(),
    progress: bool = True,
    console: Console | None = None,
) -> DemoResult:
    """Write the demo study into ``out_dir`` and run it end to end (resumable: run it again to finish).

    Parameters
    ----------
    out_dir : str or Path
        The study directory to create (or resume).
    config : DemoConfig
        The demo's design; the default is the shipped demo.
    progress : bool
        Show the progress display.
    console : rich.console.Console, optional
        Where progress and the final message go.

    Returns
    -------
    DemoResult
        The study.yaml path, the run summary, the rendered reports and the total seconds.
    """
    console = console or Console(stderr=True, quiet=not progress)
    started = time.perf_counter()
    study_yaml = write_demo_study(out_dir, config)
    console.print(f"[bold]valuesurvey demo[/bold]: study in {study_yaml.parent}")
    console.print(f"[yellow]{DEMO_NOTE}[/yellow]")
    summary = run_study(study_yaml, stages=config.stages, progress=progress, console=console)
    study = load_study(study_yaml)
    report_dir = study.paths.report_dir
    reports = tuple(sorted(p for p in report_dir.glob("*") if p.suffix in {".html", ".pdf"}))
    seconds = time.perf_counter() - started
    console.print(f"demo finished in {seconds:.0f} s")
    for report in reports:
        console.print(f"report: [bold]{report.resolve()}[/bold]")
    return DemoResult(study_yaml, summary, reports, seconds)
