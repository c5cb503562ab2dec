"""Batch progress: a live bar with counts per status in a terminal, one plain line each otherwise."""
from __future__ import annotations

import io

from rich.console import Console

from bot.models import RegistrationResult, Status, Supplier
from bot.progress import BatchProgress


def supplier(n: int) -> Supplier:
    return Supplier(siret=f"{n:014d}", email=f"ap+{n}@ssc.example", first_name="A", last_name="B", phone="0102030405")


def result(n: int, status: Status) -> RegistrationResult:
    return RegistrationResult(siret=f"{n:014d}", email=f"ap+{n}@ssc.example", status=status, message="m", attempts=1)


def test_plain_lines_when_not_a_terminal(capsys):
    progress = BatchProgress(2, interactive=False)
    progress.start()
    progress.started(supplier(1))
    progress.finished(result(1, Status.activated))
    progress.started(supplier(2))
    progress.finished(result(2, Status.failed))
    progress.stop()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "[1/2] activated: 00000000000001 ap+1@ssc.example (attempts 1): m",
        "[2/2] failed: 00000000000002 ap+2@ssc.example (attempts 1): m",
    ]


def test_live_bar_counts_per_status_in_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    progress = BatchProgress(3, interactive=True, console=console)
    progress.start()
    for n in (1, 2, 3):
        progress.started(supplier(n))
    progress.finished(result(1, Status.activated))
    progress.finished(result(2, Status.exists))
    progress.stop()
    screen = out.getvalue()
    assert "2/3" in screen
    assert "activated 1 · exists 1 · in flight 1" in screen
    assert progress.counts == {Status.activated: 1, Status.exists: 1}
