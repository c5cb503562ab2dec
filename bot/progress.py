"""What a batch shows while it runs: a rich progress bar in a terminal, plain lines otherwise.

Why two forms: an operator watching a terminal wants one live bar with the counts per
status; cron, systemd and CI capture stdout into a file, where a redrawn bar is noise and
one line per finished supplier is what someone greps the next morning.
"""
from __future__ import annotations

import sys
import threading
from collections import Counter
from typing import Callable

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn,
                           TimeElapsedColumn)
from rich.text import Text

from bot.models import RegistrationResult, Status, Supplier
from bot.report import STATUS_STYLE

class _WaitingColumn(ProgressColumn):
    """"waiting for a person: N" (the captcha desk's count), read at each redraw: a supplier
    starts and stops waiting without starting or finishing."""

    def __init__(self, count: Callable[[], int]):
        super().__init__()
        self.count = count

    def render(self, task) -> Text:
        n = self.count()
        return Text(f"waiting for a person: {n}", style="bold magenta" if n else "dim")


def _counts_text(counts: Counter[Status], in_flight: int, markup: bool) -> str:
    parts = []
    for status in Status:
        if counts[status]:
            style = STATUS_STYLE.get(status)
            text = f"{status.value} {counts[status]}"
            parts.append(f"[{style}]{text}[/]" if markup and style else text)
    if in_flight:
        parts.append(f"in flight {in_flight}")
    return " · ".join(parts)


class BatchProgress:
    """Thread-safe: workers call ``started``/``finished`` from their own threads."""

    def __init__(
        self, total: int, *, interactive: bool | None = None, console: Console | None = None,
        waiting: Callable[[], int] | None = None,
    ):
        """``waiting``: how many suppliers wait for a person (the captcha desk), if one serves the run."""
        self.total = total
        self.interactive = sys.stdout.isatty() if interactive is None else interactive
        self.console = console or Console()
        self.counts: Counter[Status] = Counter()
        self.in_flight = 0
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task = None
        self.waiting = waiting  # None: no desk in this run, nothing shown

    def start(self, on_live: Callable[[], None] | None = None) -> None:
        """Show the bar (terminal only); ``on_live`` runs once the terminal is redirected."""
        if not self.interactive:
            return
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]suppliers"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            *([_WaitingColumn(self.waiting)] if self.waiting else []),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._task = self._progress.add_task("suppliers", total=self.total, counts="")
        self._progress.start()
        if on_live:
            on_live()

    def started(self, supplier: Supplier) -> None:
        with self._lock:
            self.in_flight += 1
            self._refresh()

    def finished(self, result: RegistrationResult) -> None:
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
            self.counts[result.status] += 1
            done = sum(self.counts.values())
            if self._progress is not None:
                self._progress.update(self._task, advance=1)
                self._refresh()
            else:
                print(
                    f"[{done}/{self.total}] {result.status.value}: {result.siret} {result.email}"
                    f" (attempts {result.attempts}): {result.message}"
                    + (f" · waiting for a person: {self.waiting()}" if self.waiting else ""),
                    flush=True,
                )

    def _refresh(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, counts=_counts_text(self.counts, self.in_flight, markup=True))

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
