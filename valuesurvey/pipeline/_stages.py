"""The pipeline's stages: what each one reads (its inputs, hashed for resuming), writes, and calls.

Each stage calls one entry point owned by another subpackage, imported lazily so that a missing
optional component only fails the stage that needs it::

    elicit   valuesurvey.elicit.run_elicitation        responses.sqlite, llm_ratings, rankings
    analyze  valuesurvey.analysis.analyze_study         humans/, similarity/, estimates/
    figures  valuesurvey.figures.make_figures           figures/
    report   valuesurvey.report.render_report           report/ (and figures/ again)

The human microdata are loaded inside the analysis (``analyze_study`` calls
``valuesurvey.humans.prepare_study_humans``), so there is no separate humans stage.

A stage's inputs are the study.yaml sections it depends on, the files earlier stages wrote, and a
fingerprint of its own source code: change any of them and the stage is redone; change anything
else (another stage's settings, a report title for the elicitation) and it is not.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from valuesurvey.errors import MissingComponentError
from valuesurvey.manifest import REPO_ROOT, source_fingerprint
from valuesurvey.study import Study

__all__ = ["DEFAULT_STAGES", "STAGE_NAMES", "Stage", "StageContext", "default_stages"]


@dataclass(frozen=True)
class StageContext:
    """Run-wide options handed to every stage."""

    progress: bool = True
    limit: int | None = None
    models: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    ``inputs(study)`` returns label → value (a :class:`~pathlib.Path` is hashed by content, anything
    else by its canonical JSON); ``outputs(study)`` the files and directories it writes;
    ``run(study, context)`` does the work and may return a mapping recorded as the stage's ``extra``.
    """

    name: str
    description: str
    inputs: Callable[[Study], Mapping[str, Any]]
    outputs: Callable[[Study], list[Path]]
    run: Callable[[Study, StageContext], Mapping[str, Any] | None]
    applies: Callable[[Study], bool] = field(default=lambda study: True)


def _entry_point(module: str, name: str) -> Callable[..., Any]:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise MissingComponentError(
            f"{module}.{name} (needed by this stage)", "pip install -e '.[all]' from a complete checkout"
        ) from exc


def _instrument_hashes(study: Study) -> dict[str, str | None]:
    """Content hash of each instrument as the study uses it (replacement file, options, translations
    applied), so that an edited item text, in the package or in the study's own file, redoes elicitation."""
    try:
        instruments = importlib.import_module("valuesurvey.instruments")
    except ImportError:
        return dict.fromkeys(study.instruments)
    try:  # as elicited: a user's file, an item subset, options and translations applied
        found = instruments.for_study(study)
    except Exception:  # an unknown id fails later, inside the stage, with the stage's own message
        found = {}
    return {i: found[i].content_hash if i in found else None for i in study.instruments}


def _instrument_scoring(study: Study) -> dict[str, Any]:
    """Each item's dimension and reverse key: they change the scores, not the prompts (nor the hash)."""
    try:
        found = importlib.import_module("valuesurvey.instruments").for_study(study)
    except Exception:  # an unknown id fails later, inside the stage, with the stage's own message
        return {}
    return {
        i: [[it.id, it.dimension, bool(getattr(it, "reverse", False))] for it in inst.items]
        for i, inst in found.items()
    }


def _section(study: Study, *names: str) -> dict[str, Any]:
    return study.model_dump(mode="json", include=set(names))


def _translation_files(study: Study) -> dict[str, Path]:
    return {f"translation:{key}": study.resolve(path) for key, path in sorted(study.translations.items())}


def _human_source_files(study: Study) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for instrument, spec in sorted(study.humans.items()):
        files[f"human_file:{instrument}"] = study.resolve(spec.path)
        if spec.mapping is not None:
            files[f"human_mapping:{instrument}"] = study.resolve(spec.mapping)
    return files


def _data_files(study: Study) -> dict[str, Path]:
    paths = study.paths
    files = {"llm_ratings": paths.llm_ratings, "rankings": paths.rankings}
    # With study.humans the analysis loads the human files itself (and rewrites humans/, whose load
    # reports carry timings): the source files are its inputs. Without, humans/ was put there by hand.
    if not study.humans:
        files["humans"] = paths.humans_dir
    return files


def _results_files(study: Study) -> dict[str, Path]:
    paths = study.paths
    return {**_data_files(study), "similarity": paths.similarity_dir, "estimates": paths.estimates_dir}


# ---------------------------------------------------------------------------------------------- elicit


def _elicit_inputs(study: Study) -> dict[str, Any]:
    return {
        "study": _section(
            study,
            "instruments",
            "instrument_options",
            "translations",
            "languages",
            "personas",
            "repetitions",
            "answer_mode",
            "generation",
            "models",
            "ranking",
        ),
        "instrument_hashes": _instrument_hashes(study),
        **_translation_files(study),
        "code": source_fingerprint("elicit", "instruments", "parse"),
    }


def _elicit_outputs(study: Study) -> list[Path]:
    paths = study.paths
    return [paths.responses, paths.llm_ratings, paths.rankings]


def _elicit_run(study: Study, context: StageContext) -> Mapping[str, Any]:
    run_elicitation = _entry_point("valuesurvey.elicit", "run_elicitation")
    summary = run_elicitation(study, models=context.models, limit=context.limit, progress=context.progress)
    # A run restricted to some models or to N requests, or with failed requests, leaves the design
    # incomplete.
    complete = context.limit is None and context.models is None and summary.failed == 0
    return {"complete": complete, "failed": summary.failed, "summary": _jsonable(summary)}


# --------------------------------------------------------------------------------------------- analyze


def _analyze_inputs(study: Study) -> dict[str, Any]:
    return {
        "study": _section(
            study,
            "instruments",
            "instrument_options",
            "languages",
            "personas",
            "models",
            "analysis",
            "analyses",
            "humans",
        ),
        "instrument_scoring": _instrument_scoring(study),
        **_data_files(study),
        **_human_source_files(study),
        "code": source_fingerprint(
            "analysis",
            "analyses",
            "regressions",
            "similarity",
            "scoring",
            "country_level",
            "vectors",
            "ranking",
            "rbridge",
            "humans",
            "instruments",
            REPO_ROOT / "R",
        ),
    }


def _analyze_outputs(study: Study) -> list[Path]:
    paths = study.paths
    return [
        paths.humans_dir,
        paths.similarity_dir,
        paths.scores_dir,
        paths.estimates_dir,
        study.root / "analyses",
    ]


def _analyze_run(study: Study, context: StageContext) -> None:
    _entry_point("valuesurvey.analysis", "analyze_study")(study)


# --------------------------------------------------------------------------------------------- figures


def _figures_inputs(study: Study) -> dict[str, Any]:
    return {
        "study": _section(study, "title", "instruments", "models", "synthetic_note", "humans"),
        **_results_files(study),
        "code": source_fingerprint("figures"),
    }


def _figures_outputs(study: Study) -> list[Path]:
    return [study.paths.figures_dir]


def _figures_run(study: Study, context: StageContext) -> Mapping[str, Any]:
    written = _entry_point("valuesurvey.figures", "make_figures")(study)
    return {"figures": len(list(written or []))}


# ---------------------------------------------------------------------------------------------- report


def _report_inputs(study: Study) -> dict[str, Any]:
    return {
        "study": study.model_dump(mode="json"),
        **_results_files(study),
        # render_report draws the figures again, so the figures code is the report's code too; the
        # declared analyses' section prints their specs as valuesurvey.analyses reads them.
        "code": source_fingerprint(
            "report", "figures", "analyses", REPO_ROOT / "reports", REPO_ROOT / "_quarto.yml"
        ),
    }


def _report_outputs(study: Study) -> list[Path]:
    return [study.paths.report_dir]


def _report_run(study: Study, context: StageContext) -> Mapping[str, Any]:
    render = _entry_point("valuesurvey.report", "render_report")
    written = render(study, formats=tuple(study.report.formats), renderer=study.report.renderer)
    return {"rendered": sorted(Path(p).name for p in written or [])}


def _jsonable(value: Any) -> Any:
    """A stage's return value in a form the manifest can hold (dataclass, pydantic, DataFrame…)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return value.to_dict(orient="records")
    if hasattr(value, "__dataclass_fields__"):
        return {name: _jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return str(value)


def default_stages() -> tuple[Stage, ...]:
    """The pipeline in order: elicit → analyze → figures → report."""
    return (
        Stage("elicit", "ask every model every item", _elicit_inputs, _elicit_outputs, _elicit_run),
        Stage(
            "analyze",
            "humans, similarity, RQ1-RQ3 and rankings",
            _analyze_inputs,
            _analyze_outputs,
            _analyze_run,
        ),
        Stage("figures", "draw the figures", _figures_inputs, _figures_outputs, _figures_run),
        Stage("report", "render the report", _report_inputs, _report_outputs, _report_run),
    )


DEFAULT_STAGES = default_stages()
STAGE_NAMES = tuple(stage.name for stage in DEFAULT_STAGES)
