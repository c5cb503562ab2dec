"""The HTML report of a batch run: one self-contained file a person opens from a mail or a share.

Why one file with everything inside: the people who read a run's outcome (accountants, their
managers) open it offline, from an attachment or a network share, maybe printed. So styles
and the few lines of script (sort, filter) are inline, failure screenshots are embedded as
``data:`` URIs and a Content-Security-Policy forbids any request: the file never reaches the
network, and shows the same wherever it is opened.

Why it is built from the journal: the batch writes ``ARTIFACTS_DIR/<run>/report.html`` at its
end from what it recorded (``Journal.run``: the settings, start and end, the report lines),
and ``chorus-bot report`` rebuilds the same file later from the same records. A run killed
before its end has no report lines: its suppliers are taken from the journal's entries.

No secret: every string goes through ``bot.secrets.registry.mask`` (the settings' own secrets
are registered first), the settings shown are a fixed list that holds none, and a portal
address loses any ``user:password@``.
"""
from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import escape

from bot.journal import RUNNING, Journal, JournalEntry
from bot.models import RegistrationResult, Status
from bot.report import write_text_atomically
from bot.secrets import registry
from bot.settings import Settings

HTML_REPORT = "report.html"
"""The name of the report every batch run writes into its artifact folder."""

MAX_SCREENSHOT_BYTES = 3 * 1024 * 1024
"""A screenshot larger than this is named, not embedded (a tall page, a huge screen)."""
MAX_EMBEDDED_BYTES = 40 * 1024 * 1024
"""All embedded screenshots of one report together: past this, the next ones are named only,
so that a run with hundreds of failures still gives a file a mail client or a browser opens."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STATUS_COLOURS = {
    Status.activated: "#1a7f37",
    Status.pending_activation: "#bf8700",
    Status.exists: "#0969da",
    Status.email_in_use: "#8250df",
    Status.invalid_input: "#6e7781",
    Status.insee_mismatch: "#d4a72c",
    Status.blocked: "#57606a",
    Status.captcha_required: "#bc4c00",
    Status.failed: "#cf222e",
}
TIMELINE_WIDTH = 1000
TIMELINE_ROW = 16
TIMELINE_LABEL = 130  # room on the left for the SIRET of each bar


def run_settings(settings: Settings, concurrency: int, dry_run: bool) -> dict[str, Any]:
    """What the report shows of a run's settings: enough to tell runs apart, never a secret."""
    return {
        "Portal": _portal_address(settings.portal_url),
        # CHORUS_JOURNEY where the bot has it; otherwise the guide's journey is the one it walks.
        "Journey": str(getattr(settings, "journey", "guide")),
        "Language": settings.language.value,
        "Concurrency": concurrency,
        "Max attempts": settings.max_attempts,
        "INSEE mismatch": settings.insee_mismatch.value,
        "Trace": settings.trace.value,
        "Dry run": "yes" if dry_run else "no",
    }


def _portal_address(url: str | None) -> str:
    """The portal's address without any ``user:password@``, query or fragment."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# -- what the report is made of ---------------------------------------------------------------


@dataclass
class Screenshot:
    """A failure screenshot: embedded (``data_uri``) or, past a limit, only named (``note``)."""

    path: str
    data_uri: str | None = None
    note: str | None = None


@dataclass
class Attempt:
    """One failed attempt as its ``failure.json`` tells it."""

    number: int
    time: str
    screen: str
    step: str
    error: str
    message: str


@dataclass
class Line:
    """One supplier of the report: its result, and what the table and the timeline show of it."""

    result: RegistrationResult
    company: str
    ran: bool  # started in this run (not a bad row, not left alone as final)
    duration_s: float | None
    failures: list[Attempt] = field(default_factory=list)
    screenshot: Screenshot | None = None
    trace: str | None = None

    @property
    def has_details(self) -> bool:
        r = self.result
        return r.status is not Status.activated and bool(
            r.screen or r.step or self.failures or self.screenshot or self.trace
        )


@dataclass
class RunReport:
    run_id: str
    started_at: datetime | None
    finished_at: datetime | None
    settings: dict[str, Any]
    lines: list[Line]
    complete: bool  # False: the run was killed (or still goes on); lines come from the journal

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def results(self) -> list[RegistrationResult]:
        return [line.result for line in self.lines]


class RunNotFound(LookupError):
    """No such run in the journal. ``str(exc)`` is the one line the user sees."""


def load_run(journal: Journal, settings: Settings, run_id: str | None = None) -> RunReport:
    """The report of run ``run_id`` (default: the latest) from the journal and the artifacts."""
    _register_setting_secrets(settings)
    entries = journal.all()
    record = journal.run(run_id)
    if record is None:  # a run of a journal older than its runs table, or no run at all
        if run_id is None:
            started = [e for e in entries if e.run_id and e.started_at]
            run_id = max(started, key=lambda e: e.started_at).run_id if started else None
        if run_id is None or not any(e.run_id == run_id for e in entries):
            raise RunNotFound(f"no run {run_id} in the journal" if run_id else "no run in the journal yet")
    else:
        run_id = record.run_id
    ran_here = [e for e in entries if e.run_id == run_id]
    if record is not None and record.results is not None:
        results, complete = record.results, True
    else:
        results, complete = [_entry_result(e) for e in ran_here], False
    times = [t for r in results for t in (r.started_at, r.finished_at) if t]
    started = record.started_at if record else min(times, default=None)
    finished = (record.finished_at if record else None) or max(times, default=None)
    companies = {e.siret: e.supplier.company_name for e in entries if e.supplier.company_name}
    folder = settings.artifacts_dir / run_id
    budget = [MAX_EMBEDDED_BYTES]
    lines = [_line(r, companies, started, folder, budget) for r in results]
    return RunReport(
        run_id=run_id, started_at=started, finished_at=finished,
        settings=dict(record.settings) if record else {}, lines=lines, complete=complete,
    )


def _register_setting_secrets(settings: Settings) -> None:
    """So that masking knows them even in a process that never logged in (``chorus-bot report``)."""
    for name, secret in (("imap_password", settings.imap_password), ("secret_key", settings.secret_key)):
        if secret is not None:
            registry.add(secret.get_secret_value(), name)


def _entry_result(entry: JournalEntry) -> RegistrationResult:
    """A supplier of a run that did not record its end: its last result, or 'interrupted'."""
    if entry.status != RUNNING and entry.result is not None:
        return entry.result
    return RegistrationResult(
        siret=entry.siret, email=entry.email, status=Status.failed,
        message=f"interrupted at {entry.step or entry.checkpoint.value}: the run ended before this supplier did"
        " (the next run resumes it)",
        attempts=entry.attempts, started_at=entry.started_at, finished_at=entry.finished_at or entry.updated_at,
        trace=entry.trace, step=entry.step, artifacts=entry.artifacts,
    )


def _line(result: RegistrationResult, companies: dict[str, str], run_start: datetime | None,
          folder: Path, budget: list[int]) -> Line:
    autofilled = (result.insee.autofilled if result.insee else {}).get("company_name", "")
    ran = bool(result.started_at and result.finished_at and (run_start is None or result.finished_at >= run_start))
    duration = (result.finished_at - result.started_at).total_seconds() if ran else None
    line = Line(result=result, company=companies.get(result.siret) or autofilled, ran=ran, duration_s=duration,
                trace=result.trace)
    if not ran:
        return line
    attempts = folder / result.siret
    line.failures = [_attempt(path) for path in sorted(attempts.glob("attempt-*/failure.json"), key=_attempt_no)]
    if result.status is not Status.activated:
        png = next((Path(a) for a in result.artifacts if a.endswith("failure.png")), None)
        if png is None:
            shots = sorted(attempts.glob("attempt-*/failure.png"), key=_attempt_no)
            png = shots[-1] if shots else None
        if png is not None:
            line.screenshot = _screenshot(png, budget)
    return line


def _attempt_no(path: Path) -> int:
    digits = path.parent.name.removeprefix("attempt-")
    return int(digits) if digits.isdigit() else 0


def _attempt(path: Path) -> Attempt:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    return Attempt(
        number=_attempt_no(path), time=str(data.get("time") or ""), screen=str(data.get("screen") or ""),
        step=str(data.get("step") or ""), error=str(data.get("error") or ""), message=str(data.get("message") or ""),
    )


def _screenshot(path: Path, budget: list[int]) -> Screenshot:
    """Embed the PNG as it is when it fits the limits (no image library: no downscaling)."""
    shown = str(path.resolve())
    try:
        data = path.read_bytes()
    except OSError:
        return Screenshot(shown, note="screenshot missing")
    if not data.startswith(PNG_SIGNATURE):
        return Screenshot(shown, note="not a PNG file: not embedded")
    if len(data) > MAX_SCREENSHOT_BYTES:
        return Screenshot(shown, note=f"screenshot not embedded: {_size(len(data))}, over the "
                                      f"{_size(MAX_SCREENSHOT_BYTES)} limit per image")
    if len(data) > budget[0]:
        return Screenshot(shown, note=f"screenshot not embedded: the report already holds "
                                      f"{_size(MAX_EMBEDDED_BYTES)} of screenshots")
    budget[0] -= len(data)
    return Screenshot(shown, data_uri="data:image/png;base64," + base64.b64encode(data).decode("ascii"))


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


# -- rendering ----------------------------------------------------------------------------------


# Beside this module (package data), found by path: under pytest, `bot` may also name tests/bot.
_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html", "j2"]),
                   trim_blocks=True, lstrip_blocks=True)
_ENV.filters["mask"] = lambda value: registry.mask(str(value)) if value is not None else ""


def render_html(report: RunReport) -> str:
    """The whole file. Deterministic: the same run gives the same bytes (no 'generated at')."""
    counts = Counter(line.result.status for line in report.lines)
    ran = [line for line in report.lines if line.ran]
    duration = report.duration_s
    per_minute = len(ran) / (duration / 60) if duration else None
    return _ENV.get_template("report.html.j2").render(
        report=report,
        counts=[(status, counts[status], STATUS_COLOURS[status]) for status in Status if counts[status]],
        total=len(report.lines),
        ran=len(ran),
        throughput=f"{per_minute:.1f}" if per_minute is not None else "–",
        colours={s.value: c for s, c in STATUS_COLOURS.items()},
        timeline=timeline_svg(report),
        when=_when,
        clock=_clock,
        seconds=_seconds,
    )


def write_html_report(report: RunReport, path: Path | str) -> Path:
    """Write the report (0600, written whole or not at all); returns the path."""
    return write_text_atomically(Path(path), render_html(report))


def _when(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "–"


def _clock(text: str) -> str:
    """An ISO time of a ``failure.json`` as the report's other times are written."""
    at = _parse_time(text)
    return _when(at) if at else registry.mask(text)


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def timeline_svg(report: RunReport) -> str:
    """One bar per supplier that ran, from its start to its end, coloured by status; a tick per
    failed attempt. Inline SVG (no script, no font request): a stall shows as a gap, a slow
    portal as long bars."""
    lines = sorted((line for line in report.lines if line.ran), key=lambda line: line.result.started_at)
    if not lines or report.started_at is None:
        return ""
    start = min([report.started_at] + [line.result.started_at for line in lines])
    end = max([report.finished_at or start] + [line.result.finished_at for line in lines])
    span = max((end - start).total_seconds(), 1.0)
    scale = (TIMELINE_WIDTH - TIMELINE_LABEL - 10) / span
    height = 24 + TIMELINE_ROW * len(lines) + 6
    out = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{TIMELINE_WIDTH}" height="{height}" '
           f'viewBox="0 0 {TIMELINE_WIDTH} {height}" role="img" aria-label="Timeline of the run">']
    for tick in _ticks(span):
        x = TIMELINE_LABEL + tick * scale
        out.append(f'<line x1="{x:.1f}" y1="16" x2="{x:.1f}" y2="{height - 4}" class="grid"/>'
                   f'<text x="{x:.1f}" y="12" class="axis">{escape(_seconds(tick) if tick else "0")}</text>')
    for row, line in enumerate(lines):
        r = line.result
        y = 22 + row * TIMELINE_ROW
        x = TIMELINE_LABEL + (r.started_at - start).total_seconds() * scale
        width = max((r.finished_at - r.started_at).total_seconds() * scale, 2.0)
        tip = registry.mask(f"{r.siret} {r.status.value}: {_seconds(line.duration_s)}, {r.attempts} attempt(s)")
        out.append(f'<text x="{TIMELINE_LABEL - 6}" y="{y + 10}" class="label">{escape(r.siret)}</text>'
                   f'<rect class="bar" data-siret="{escape(r.siret)}" data-status="{r.status.value}" x="{x:.1f}" '
                   f'y="{y}" width="{width:.1f}" height="{TIMELINE_ROW - 4}" rx="2" '
                   f'fill="{STATUS_COLOURS[r.status]}"><title>{escape(tip)}</title></rect>')
        for failure in line.failures:
            at = _parse_time(failure.time)
            if at is not None and start <= at <= end:
                fx = TIMELINE_LABEL + (at - start).total_seconds() * scale
                out.append(f'<line class="fault" x1="{fx:.1f}" y1="{y - 1}" x2="{fx:.1f}" y2="{y + TIMELINE_ROW - 3}">'
                           f'<title>{escape(registry.mask(f"attempt {failure.number}: {failure.message}"))}</title></line>')
    out.append("</svg>")
    return "".join(out)


def _ticks(span: float) -> list[float]:
    """About 6 round grid steps over ``span`` seconds."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800):
        if span / step <= 8:
            break
    return [float(t) for t in range(0, int(span) + 1, step)]


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
