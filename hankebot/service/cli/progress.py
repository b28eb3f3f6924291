"""The progress bar of long commands (fetch): on a terminal, a rich bar on stderr with done/total, the rate in
messages per second, elapsed and remaining time; quiet when stderr is not a terminal (a log, a pipe)."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:.1f}" if seconds > 0 else "-"


def message_bar():
    """A rich Progress for messages, writing to stderr, disabled unless stderr is a terminal."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f} msg/s" if speed else "- msg/s", style="progress.data.speed")

    console = Console(file=sys.stderr)
    return Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), Rate(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=not console.is_terminal)


@dataclass
class Stopwatch:
    """Seconds spent per phase (fetch, processing) for the throughput line."""

    started: float = field(default_factory=time.monotonic)
    phases: dict[str, float] = field(default_factory=dict)
    _mark: float = field(default_factory=time.monotonic)

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.phases[phase] = now - self._mark
        self._mark = now

    @property
    def total(self) -> float:
        return time.monotonic() - self.started
