"""Per-attempt Playwright traces that never hold a secret, and the artifacts of a failure.

Layout: ``ARTIFACTS_DIR/<run_id>/<siret>/attempt-<n>/`` holds ``trace.zip`` (when kept) and,
after a failure, ``failure.png``, ``failure.html``, ``failure.json`` and ``log-tail.txt``.

How a trace stays free of secrets (why it is safe)
---------------------------------------------------
Playwright records everything: action parameters (the text of every ``fill``), DOM
snapshots (every input's current value, password fields included), screencast frames and
the network (request bodies, so a posted form). Stopping only the *chunk* is not enough:
the network recorder runs from ``tracing.start`` to ``tracing.stop`` regardless of chunks,
and every later chunk's zip carries the whole network log (a form POST made while "not
recording" would still land in the next chunk's ``trace.network``). So:

1. Recording is split into *segments*, each a complete ``tracing.start`` ... ``tracing.stop``.
   ``secret_section()`` ends the current segment (saved) before any secret is typed: while
   the secrets are filled and submitted, tracing is fully stopped — no action, snapshot,
   screenshot or network entry exists for that span anywhere.
2. On leaving the section a new segment starts only if no page of the context still holds a
   secret in a form field (non-empty password input, or any field whose value is a
   registered secret); otherwise recording stays suspended (``resume()`` retries later, e.g.
   after the next navigation). So screencast frames never show a typed secret answer (a
   password field only ever renders dots) and DOM snapshots never hold one.
3. ``finish()`` merges the segments into one ``trace.zip`` (one ``<segment>.trace`` per
   segment, the form Playwright's viewer loads as several contexts of one trace) and then
   scrubs it: every text member is rewritten with every registered secret form masked
   (``bot.secrets.registry``), plus any ``token=``/``code=`` URL value (the activation link
   opened before the section). Binary members (screenshots, fonts) cannot be rewritten
   safely; they are scanned and dropped if a form shows up (never expected).

Only what is kept is scrubbed (why the unscrubbed segments are safe)
--------------------------------------------------------------------
Until it is scrubbed, a saved segment may hold the activation link's token (recorded
before the secret section). Scrubbing is a large part of tracing's CPU (every member is
masked or scanned), and ``retain-on-failure`` deletes a successful attempt's trace unread.
So segments are saved unscrubbed, but only into ``traces/`` of the run's private temporary
folder (``bot.runtemp``: 0700, removed at the end of the run, swept by the next ``register``
or ``batch`` start when a hard kill left it behind). Playwright already keeps the raw
material of every trace in that folder while recording, so this adds no new exposure.
``finish()`` merges the segments there too; only the scrub writes into the attempt folder,
so nothing unscrubbed is ever written under ARTIFACTS_DIR, even by a run killed mid-way. A
deleted attempt costs no scrub at all (and no attempt folder, unless it failed). Outside a
run temporary folder (a ``TraceRecorder`` used without ``run_temp_dir``), each segment is
scrubbed as soon as it is saved in the attempt folder, as a kill could leave it there.

Screencast frames are off unless ``CHORUS_TRACE_SCREENSHOTS=true``: the DOM snapshots show
the page at every step in the trace viewer, a failure leaves ``failure.png``, and the frames
cost most of the tracing CPU (Chromium encodes a JPEG per repaint, the scrub scans them).
Without them, the DOM snapshots are nearly all of what tracing costs when nothing fails (a
snapshot before and after each call): ``CHORUS_TRACE_SNAPSHOTS=false`` drops them (and the
network, which Playwright records with them) and keeps the actions and their call logs.

Callers: register secrets before using them (``secret_section(password, answer)`` does it)
and type every secret inside a ``secret_section`` (activation form, log-in with stored
credentials, one-time codes), waiting inside it until the page has left the secret form.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import zipfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from loguru import logger
from playwright.sync_api import BrowserContext, Page

from bot.logs import recent_lines
from bot.private import private_dir, private_file, private_opener, write_private
from bot.runtemp import current_run_temp
from bot.secrets import first_line, registry
from bot.settings import Settings, TraceMode

TRACE_FILE = "trace.zip"
SPOOL_DIR = "traces"  # in the run's temporary folder: the segments not scrubbed yet
RESUMED = "Recording resumed: the secret section (typing and submitting secrets) is not recorded"
RUN_MARKER = ".chorus-run"  # only folders carrying it are ever pruned
_BINARY_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"RIFF", b"GIF8", b"wOF2", b"wOFF", b"\x1f\x8b", b"PK\x03\x04")
_PASSWORD_INPUT = re.compile(r"<input\b[^>]*\btype\s*=\s*[\"']?password\b[^>]*>", re.IGNORECASE)
_VALUE_ATTR = re.compile(r"\svalue\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)

# [type, value] of every field of the main frame, in document order. Run only while tracing is
# stopped: an evaluate's result is recorded in a trace.
_READ_FIELDS_JS = "() => Array.from(document.querySelectorAll('input, textarea')).map(e => [e.type || '', e.value || ''])"
_BLANK_FIELDS_JS = """(indexes) => {
  const fields = Array.from(document.querySelectorAll('input, textarea'));
  for (const i of indexes) { if (fields[i]) fields[i].value = ''; }
}"""


def run_dir(settings: Settings, run_id: str) -> Path:
    return settings.artifacts_dir / run_id


def make_run_dir(settings: Settings, run_id: str) -> Path:
    """The run's artifact folder, created private and marked as the bot's (so it is pruned)."""
    run = private_dir(run_dir(settings, run_id))
    marker = run / RUN_MARKER
    if not marker.exists():  # its time is the run's start, for pruning
        private_file(marker)
    return run


class TraceRecorder:
    """One supplier attempt's trace (see the module doc for why it holds no secret)."""

    def __init__(
        self, context: BrowserContext, settings: Settings, run_id: str, siret: str, attempt: int | None = None
    ):
        self.context = context
        self.settings = settings
        self.mode = TraceMode(settings.trace)
        self.siret = siret
        self.run_id = run_id
        self._attempt = attempt
        self._dir: Path | None = None
        self._spool: Path | None = None  # a private temporary folder for unscrubbed segments
        self._segments: list[Path] = []
        self._recording = False
        self._suspended = False
        self._log = logger.bind(siret=siret)
        self.trace_path: str | None = None
        self._finished = False

    # -- folders ---------------------------------------------------------------------------

    @property
    def dir(self) -> Path:
        """``ARTIFACTS_DIR/<run>/<siret>/attempt-<n>/``, created on first use."""
        if self._dir is None:
            parent = private_dir(make_run_dir(self.settings, self.run_id) / self.siret)
            n = self._attempt or 1
            while True:  # first free number when the caller gave none
                candidate = parent / f"attempt-{n}"
                try:
                    private_dir(candidate, exist_ok=self._attempt is not None)
                    break
                except FileExistsError:
                    n += 1
            self._dir = candidate
        return self._dir

    def _segment_dir(self) -> Path:
        """Where segments are saved: the run temporary folder's spool, else the attempt folder."""
        if self._spool is None:
            temp = current_run_temp()
            if temp is None:
                return self.dir
            self._spool = Path(tempfile.mkdtemp(prefix=f"{self.siret}-", dir=private_dir(temp / SPOOL_DIR)))
        return self._spool

    # -- recording -------------------------------------------------------------------------

    def start(self) -> None:
        """Begin the first segment (nothing at all when TRACE=off)."""
        if self.mode is TraceMode.off:
            return
        self._start_segment()

    def _start_segment(self) -> None:
        part = len(self._segments) + 1
        attempt = f"attempt-{self._attempt}" if self._attempt else self.dir.name
        self.context.tracing.start(
            screenshots=self.settings.trace_screenshots,
            snapshots=self.settings.trace_snapshots,
            sources=False,
            title=f"{self.siret} {attempt} part {part}",
        )
        self._recording, self._suspended = True, False

    def _stop_segment(self) -> None:
        """End the segment and save it: a full stop, so that the network recorder stops too.

        Outside the run's temporary folder the saved segment is scrubbed at once, so that even
        a process killed before `finish` leaves no unscrubbed zip under ARTIFACTS_DIR."""
        if not self._recording:
            return
        folder = self._segment_dir()
        path = folder / f".segment-{len(self._segments) + 1:02d}.zip"
        self._recording = False
        try:
            self.context.tracing.stop(path=path)
        except Exception as exc:  # a closed browser: the segment is lost, not the run
            self._log.warning("trace segment not saved: {}", first_line(exc))
            return
        if folder != self._spool:
            scrub_zip(path)
        self._segments.append(path)

    @contextmanager
    def secret_section(self, *secrets: str) -> Iterator[None]:
        """Nothing is recorded inside; registers `secrets` first. Wait inside for the page to
        leave the secret form: recording resumes only once no field holds a secret."""
        for value in secrets:
            registry.add(value)
        paused_here = self._recording
        self._stop_segment()
        if paused_here:
            self._suspended = True
        yield  # an exception propagates with recording still stopped: the page may hold secrets
        self.resume()

    def resume(self) -> bool:
        """Restart recording if it was suspended and no page holds a secret any more."""
        if not self._suspended or self.mode is TraceMode.off:
            return self._recording
        if self._pages_hold_secrets():
            self._log.info("trace recording stays paused: a page still shows a secret field")
            return False
        try:
            self._start_segment()
        except Exception as exc:
            self._log.warning("trace recording not resumed: {}", first_line(exc))
            return False
        self._snapshot_pages(RESUMED)
        return True

    def _snapshot_pages(self, title: str) -> None:
        """One cheap, snapshot-taking call per page under a titled group, so the trace shows
        each page as recording resumes (a flow often has no further action after a section)."""
        tracing = self.context.tracing
        for page in self.context.pages:
            try:
                tracing.group(title)
                try:
                    page.locator("html").is_visible()
                finally:
                    tracing.group_end()
            except Exception:  # a page closing meanwhile: nothing to show
                pass

    def _secret_field_indexes(self, page: Page) -> list[int]:
        """Indexes (in document order) of the main frame's fields holding a secret: a non-empty
        password field, or any field whose value contains a registered secret."""
        try:
            fields = page.evaluate(_READ_FIELDS_JS)
        except Exception:  # closed or navigating: nothing we can read, nothing shown either
            return []
        return [
            i
            for i, (kind, value) in enumerate(fields)
            if value and (kind == "password" or registry.mask(value) != value)
        ]

    def _pages_hold_secrets(self) -> bool:
        return any(self._secret_field_indexes(page) for page in self.context.pages)

    # -- failure ---------------------------------------------------------------------------

    def capture_failure(self, page: Page, exc: BaseException, step: str | None = None) -> list[str]:
        """Full-page screenshot, scrubbed HTML, error summary and the last 50 log lines.

        Recording is stopped first, so these reads are not traced; secret fields are blanked
        before the screenshot (the attempt is over, the page will be closed)."""
        self._stop_segment()
        out: list[str] = []
        with_dir = self.dir
        try:
            indexes = self._secret_field_indexes(page)
            if indexes:
                page.evaluate(_BLANK_FIELDS_JS, indexes)
            write_private(with_dir / "failure.png", page.screenshot(full_page=True, timeout=10_000))
            out.append(str(with_dir / "failure.png"))
        except Exception as err:
            self._log.warning("no failure screenshot: {}", first_line(err))
        try:
            write_private(with_dir / "failure.html", scrub_html(page.content()))
            out.append(str(with_dir / "failure.html"))
        except Exception as err:
            self._log.warning("no failure HTML: {}", first_line(err))
        summary = {
            "siret": self.siret,
            "run_id": self.run_id,
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "screen": getattr(exc, "screen", None),
            "step": step,
            "error": type(exc).__name__,
            "message": registry.mask(str(exc)),
            "url": registry.mask(_safe_url(page)),
        }
        write_private(with_dir / "failure.json", json.dumps(summary, indent=2, ensure_ascii=False))
        out.append(str(with_dir / "failure.json"))
        tail = "\n".join(registry.mask(line) for line in recent_lines(self.siret))
        write_private(with_dir / "log-tail.txt", tail + "\n")
        out.append(str(with_dir / "log-tail.txt"))
        return out

    # -- the end ---------------------------------------------------------------------------

    def finish(self, failed: bool) -> str | None:
        """Stop, then keep (merged and scrubbed) or delete per TRACE. Returns the kept path.

        The merge is written beside the segments (the spool, or the attempt folder when they
        were scrubbed on saving); only the scrub writes into the attempt folder.
        Idempotent: a second call returns the first call's answer and deletes nothing."""
        if self.mode is TraceMode.off:
            return None
        if self._finished:
            return self.trace_path
        self._finished = True
        self._stop_segment()
        segments, self._segments = self._segments, []
        keep = self.mode is TraceMode.on or failed
        try:
            if not keep or not segments:
                return None
            target = self.dir / TRACE_FILE
            merged = segments[0].with_name(".merged.zip")
            try:
                merge_segments(segments, merged)
                scrub_zip(merged, target)
            finally:
                merged.unlink(missing_ok=True)
            self._log.info("trace kept: {}", target)
            self.trace_path = str(target)
            return self.trace_path
        finally:
            for segment in segments:
                segment.unlink(missing_ok=True)
            if self._spool is not None:
                shutil.rmtree(self._spool, ignore_errors=True)
                self._spool = None
            if not keep and self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                try:
                    self._dir.parent.rmdir()  # the SIRET folder, when this was its only attempt
                except OSError:
                    pass


def _safe_url(page: Page) -> str:
    try:
        return page.url
    except Exception:
        return ""


def scrub_html(html: str) -> str:
    """Page HTML with every secret form masked and password inputs' `value` removed."""
    html = _PASSWORD_INPUT.sub(lambda m: _VALUE_ATTR.sub("", m.group(0)), html)
    return registry.mask(html)


def merge_segments(segments: list[Path], target: Path) -> None:
    """One zip with one ``part-NN.trace``/``.network`` per segment and the union of resources.

    Playwright's trace viewer loads every ``<name>.trace`` of a zip as one context of the
    same trace, so ``playwright show-trace trace.zip`` shows the parts on one timeline."""
    seen: set[str] = set()
    with open(target, "wb", opener=private_opener) as file, zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as out:
        for number, segment in enumerate(segments, start=1):
            with zipfile.ZipFile(segment) as part:
                for info in part.infolist():
                    name = info.filename
                    if name.startswith("trace."):
                        name = f"part-{number:02d}." + name.removeprefix("trace.")
                    if name in seen:
                        continue
                    seen.add(name)
                    out.writestr(name, part.read(info))


def _is_binary(data: bytes) -> bool:
    if data.startswith(_BINARY_MAGIC):
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _scrub_ndjson(data: bytes) -> bytes:
    """Mask each line; a line the masking made invalid JSON is dropped, not kept unmasked."""
    out = []
    for line in data.splitlines():
        masked = registry.mask_bytes(line)
        if masked != line and masked.strip():
            try:
                json.loads(masked)
            except ValueError:
                continue
        out.append(masked)
    return b"\n".join(out) + (b"\n" if out else b"")


def scrub_zip(path: Path, target: Path | None = None) -> list[str]:
    """Rewrite the zip at `path` (into `target` if given, else in place) with every registered
    secret form masked. Returns the names of the members dropped because a binary member
    contained a secret form (expected: none). Only masked bytes are written beside `target`."""
    dropped: list[str] = []
    target = target or path
    tmp = target.with_name(target.name + ".scrub")
    with (
        zipfile.ZipFile(path) as src,
        open(tmp, "wb", opener=private_opener) as file,  # 0600, and so is `target` after the rename
        zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            data = src.read(info)
            name = registry.mask(info.filename)
            if _is_binary(data):
                if registry.scan_bytes(data):
                    dropped.append(name)
                    continue
            elif name.endswith((".trace", ".network", ".stacks")):
                data = _scrub_ndjson(data)
            else:
                data = registry.mask_bytes(data)
            dst.writestr(name, data)
    tmp.replace(target)
    if dropped:
        logger.warning("trace scrub dropped {} binary member(s) holding a secret form", len(dropped))
    return dropped


# -- finding and pruning -----------------------------------------------------------------------


def _run_folders(settings: Settings) -> list[Path]:
    root = settings.artifacts_dir
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if p.is_dir() and (p / RUN_MARKER).is_file()]


def latest_trace(settings: Settings, siret: str) -> Path | None:
    """The newest kept ``trace.zip`` of this supplier across runs, or None."""
    traces = [t for run in _run_folders(settings) for t in (run / siret).glob(f"attempt-*/{TRACE_FILE}")]
    return max(traces, key=lambda t: t.stat().st_mtime, default=None)


def prune_runs(settings: Settings, keep: str | None = None) -> list[Path]:
    """Delete run folders older than ARTIFACTS_KEEP_DAYS or beyond the ARTIFACTS_KEEP_RUNS newest.

    Only folders the bot made (they carry ``.chorus-run``) are candidates, and `keep` (the
    current run id) never is. Returns the folders removed."""
    runs = sorted(_run_folders(settings), key=lambda p: (p / RUN_MARKER).stat().st_mtime, reverse=True)
    cutoff = time.time() - settings.artifacts_keep_days * 86400
    removed = []
    for index, run in enumerate(runs):
        if run.name == keep:
            continue
        if index >= settings.artifacts_keep_runs or (run / RUN_MARKER).stat().st_mtime < cutoff:
            shutil.rmtree(run, ignore_errors=True)
            removed.append(run)
    return removed
