"""``run_study``: every stage in order, each skipped when its inputs have not changed since it last ran."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rich.console import Console

from valuesurvey.errors import ConfigError
from valuesurvey.manifest import forget_stage, read_manifest, record_stage, stage_is_current
from valuesurvey.pipeline._stages import DEFAULT_STAGES, Stage, StageContext
from valuesurvey.study import Study, load_study

__all__ = ["RunSummary", "StageResult", "resume_study", "run_study"]

Status = Literal["ran", "partial", "skipped", "not applicable"]

# The manifest section the runner resumes from (stage modules record themselves under "stages").
SECTION = "pipeline"

# Files a stage touches that are not its outputs: SQLite's side files, our lock, the manifest itself.
_NOT_OUTPUTS = ("-wal", "-shm", "-journal", ".lock", ".tmp")


@dataclass(frozen=True)
class StageResult:
    """What happened to one stage in one run."""

    stage: str
    status: Status
    seconds: float = 0.0
    failed_requests: int = 0  # elicitation: requests that failed or were not sent


@dataclass(frozen=True)
class RunSummary:
    """The outcome of :func:`run_study`, stage by stage."""

    study: Study
    results: tuple[StageResult, ...] = field(default_factory=tuple)

    @property
    def ran(self) -> tuple[str, ...]:
        return tuple(r.stage for r in self.results if r.status == "ran")

    @property
    def partial(self) -> tuple[str, ...]:
        return tuple(r.stage for r in self.results if r.status == "partial")

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(r.stage for r in self.results if r.status == "skipped")

    @property
    def failed_requests(self) -> int:
        return sum(r.failed_requests for r in self.results)

    @property
    def nothing_to_do(self) -> bool:
        return not self.ran and not self.partial


def _select(pipeline: Sequence[Stage], stages: Iterable[str] | None) -> list[Stage]:
    if stages is None:
        return list(pipeline)
    wanted = [s.strip() for s in stages if s.strip()]
    valid = [stage.name for stage in pipeline]
    unknown = [name for name in wanted if name not in valid]
    if unknown:
        raise ConfigError(f"unknown stage(s) {', '.join(unknown)}; valid stages: {', '.join(valid)}")
    return [stage for stage in pipeline if stage.name in wanted]


def _snapshot(root: Path) -> dict[Path, tuple[int, int]]:
    """(mtime, size) of every file in the study directory, to find what a stage wrote."""
    snapshot: dict[Path, tuple[int, int]] = {}
    for path in root.rglob("*"):
        if path.is_file() and path.name != "manifest.json" and not path.name.endswith(_NOT_OUTPUTS):
            stat = path.stat()
            snapshot[path] = (stat.st_mtime_ns, stat.st_size)
    return snapshot


def _written(before: dict[Path, tuple[int, int]], after: dict[Path, tuple[int, int]]) -> list[Path]:
    return sorted(path for path, stamp in after.items() if before.get(path) != stamp)


@contextlib.contextmanager
def _environment_kept() -> Iterator[None]:
    """Undo a stage's changes to ``os.environ`` when it ends.

    Starting embedded R (rpy2, in the analyze stage) sets ``LD_LIBRARY_PATH=/usr/lib/R/lib:/usr/lib/
    x86_64-linux-gnu:…``; a later stage's child processes (the report's Jupyter kernel) then load the
    system libpython instead of their own and fail to import compiled modules. R is already loaded
    in this process, so restoring the variables only protects the children. R's own variables that
    the stage added (``R_HOME``, ``R_SHARE_DIR``, …) stay: the embedded R reads them for as long as
    the process lives (``R.home()``, so loading ``parallel`` later, fails without ``R_HOME``).
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        if dict(os.environ) != saved:
            embedded_r = {k: v for k, v in os.environ.items() if k.startswith("R_") and k not in saved}
            os.environ.clear()
            os.environ.update(saved)
            os.environ.update(embedded_r)


def _run_stage(study: Study, stage: Stage, context: StageContext, console: Console) -> StageResult:
    inputs = stage.inputs(study)
    # Forget the old record first: if the stage dies half-way, the next run must redo it.
    forget_stage(study, stage.name, section=SECTION)
    before = _snapshot(study.root)
    started = time.perf_counter()
    try:
        with _environment_kept():
            extra = stage.run(study, context)
    except BaseException:
        console.print(f"[red]✗[/red] {stage.name} failed after {time.perf_counter() - started:.1f} s")
        raise
    seconds = time.perf_counter() - started
    if extra is not None and extra.get("complete") is False:
        # e.g. an elicitation limited to some models or N requests: the next run must continue it.
        failed = int(extra.get("failed") or 0)
        why = f" ({failed:,} requests failed or were not sent)" if failed else ""
        console.print(
            f"[yellow]…[/yellow] {stage.name} partial after {seconds:.1f} s{why}; rerun to complete it"
        )
        return StageResult(stage.name, "partial", seconds, failed_requests=failed)
    declared = [path for path in stage.outputs(study) if path.exists()]
    outputs = sorted(set(declared) | set(_written(before, _snapshot(study.root))))
    record_stage(
        study, stage.name, inputs=inputs, outputs=outputs, seconds=seconds, extra=extra, section=SECTION
    )
    console.print(f"[green]✓[/green] {stage.name} done in {seconds:.1f} s")
    return StageResult(stage.name, "ran", seconds)


def run_study(
    study_path: str | Path | Study,
    *,
    stages: Iterable[str] | None = None,
    force: bool = False,
    progress: bool = True,
    limit: int | None = None,
    models: Sequence[str] | None = None,
    pipeline: Sequence[Stage] = DEFAULT_STAGES,
    console: Console | None = None,
) -> RunSummary:
    """Run a study's stages in order: elicit → analyze → figures → report.

    The study's lock (:mod:`valuesurvey.elicit.lock`) is held throughout: a second ``run`` or
    ``elicit`` on the same study is refused while this one runs.

    A stage is skipped when :func:`valuesurvey.manifest.stage_is_current` says that its inputs (the
    study.yaml sections it uses, the files it reads and its own source code) have the same hashes as
    when it last finished and its outputs are intact. A run stopped at any point therefore resumes
    where it stopped; elicitation additionally resumes inside the stage from ``responses.sqlite``.

    Parameters
    ----------
    study_path : str, Path or Study
        ``study.yaml``, the directory holding it, or a loaded study.
    stages : iterable of str, optional
        Only these stages (default: all that apply to the study).
    force : bool
        Redo the selected stages even when they are current.
    progress : bool
        Show progress (stage lines, and the elicitation's progress bars).
    limit, models
        Passed to the elicitation (at most ``limit`` requests; only these model ids).
    pipeline : sequence of Stage
        The stage definitions (tests pass small fake stages).
    console : rich.console.Console, optional
        Where progress lines go.

    Returns
    -------
    RunSummary
        Per stage: ran, skipped or not applicable, and seconds.
    """
    from valuesurvey.elicit.lock import study_lock

    study = study_path if isinstance(study_path, Study) else load_study(study_path)
    console = console or Console(stderr=True, quiet=not progress)
    context = StageContext(
        progress=progress, limit=limit, models=tuple(models) if models is not None else None
    )
    selected = _select(pipeline, stages)
    with study_lock(study.root, command="valuesurvey run"):  # one writer per study
        return RunSummary(study, tuple(_run_stages(study, selected, context, console, force)))


def _run_stages(
    study: Study, selected: Sequence[Stage], context: StageContext, console: Console, force: bool
) -> list[StageResult]:
    results: list[StageResult] = []
    for index, stage in enumerate(selected, start=1):
        prefix = f"[{index}/{len(selected)}]"
        if not stage.applies(study):
            console.print(f"[dim]·[/dim] {prefix} {stage.name}: not applicable to this study")
            results.append(StageResult(stage.name, "not applicable"))
            continue
        if not force and stage_is_current(study, stage.name, stage.inputs(study), section=SECTION):
            console.print(f"[dim]·[/dim] {prefix} {stage.name}: up to date (inputs unchanged)")
            results.append(StageResult(stage.name, "skipped"))
            continue
        console.print(f"[bold]▶[/bold] {prefix} {stage.name}: {stage.description}")
        results.append(_run_stage(study, stage, context, console))
    return results


def resume_study(
    study_path: str | Path | Study,
    *,
    progress: bool = True,
    pipeline: Sequence[Stage] = DEFAULT_STAGES,
    console: Console | None = None,
) -> RunSummary:
    """Complete a partial run; on a complete, unchanged run do nothing.

    Raises :class:`ConfigError` when the study has never been run (use :func:`run_study`).
    """
    study = study_path if isinstance(study_path, Study) else load_study(study_path)
    if not study.paths.manifest.exists() and not study.paths.responses.exists():
        raise ConfigError(
            f"{study.paths.study_yaml}: no run to resume (no manifest.json); use 'valuesurvey run'"
        )
    read_manifest(study)  # a corrupt manifest fails here with its own message
    return run_study(study, progress=progress, pipeline=pipeline, console=console)
