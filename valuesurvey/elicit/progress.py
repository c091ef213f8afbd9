"""Progress reporting: a rich display per model (done/total, rate, errors, ETA, tokens, cost; for a
batched model also its batches by state)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["NullProgress", "ProgressSink", "RichProgress"]


class ProgressSink(Protocol):
    """What the runner reports; implementations must be cheap (called once per answer)."""

    def add_model(self, model: str, *, total: int, done: int) -> None: ...
    def advance(
        self, model: str, *, status: str, input_tokens: int, output_tokens: int, cost: float
    ) -> None: ...
    def retry(self, model: str) -> None: ...
    def batches(self, model: str, states: Mapping[str, int]) -> None: ...
    def close(self) -> None: ...


class NullProgress:
    """Reports nothing."""

    def add_model(self, model: str, *, total: int, done: int) -> None:
        pass

    def advance(self, model: str, *, status: str, input_tokens: int, output_tokens: int, cost: float) -> None:
        pass

    def retry(self, model: str) -> None:
        pass

    def batches(self, model: str, states: Mapping[str, int]) -> None:
        pass

    def close(self) -> None:
        pass


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("  -.-/s" if speed is None else f"{speed:5.1f}/s", style="progress.data.speed")


@dataclass
class _Counts:
    errors: int = 0
    retries: int = 0
    refusals: int = 0
    invalid: int = 0
    tokens: int = 0
    cost: float = 0.0
    batches: str = ""


def _stderr_console() -> Console:
    """stderr at the terminal's width, or unbounded when it is a file or a pipe (a log keeps whole lines)."""
    console = Console(stderr=True)
    return console if console.is_terminal else Console(stderr=True, width=10_000)


class RichProgress:
    """One rich progress bar per model, on stderr."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description:<24}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            _RateColumn(),
            TextColumn(
                "err {task.fields[errors]} retry {task.fields[retries]} ref {task.fields[refusals]} "
                "inv {task.fields[invalid]}"
            ),
            TimeRemainingColumn(),
            TextColumn("{task.fields[tokens]:>9,} tok ${task.fields[cost]:.4f}"),
            TextColumn("{task.fields[batches]}"),
            console=console or _stderr_console(),
            refresh_per_second=4,
        )
        self._tasks: dict[str, int] = {}
        self._counts: dict[str, _Counts] = {}
        self._progress.start()

    def add_model(self, model: str, *, total: int, done: int) -> None:
        counts = self._counts[model] = _Counts()
        self._tasks[model] = self._progress.add_task(model, total=total, completed=done, **counts.__dict__)

    def advance(self, model: str, *, status: str, input_tokens: int, output_tokens: int, cost: float) -> None:
        counts = self._counts[model]
        counts.errors += status == "error"
        counts.refusals += status == "refusal"
        counts.invalid += status in ("invalid", "nonsense")  # both: answered, but no rating
        counts.tokens += input_tokens + output_tokens
        counts.cost += cost
        self._progress.update(self._tasks[model], advance=1, **counts.__dict__)

    def retry(self, model: str) -> None:
        counts = self._counts[model]
        counts.retries += 1
        self._progress.update(self._tasks[model], retries=counts.retries)

    def batches(self, model: str, states: Mapping[str, int]) -> None:
        """Show the model's batches by state (``batches: 2 in_progress, 1 processed``)."""
        counts = self._counts[model]
        counts.batches = "batches: " + ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        self._progress.update(self._tasks[model], batches=counts.batches)

    def close(self) -> None:
        self._progress.stop()
