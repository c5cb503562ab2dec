"""Many suppliers in one run: one lock, one Chromium, one IMAP connection, N in flight.

- The journal lock (``RunLock``) keeps two runs off one journal; the second says so and
  ends (exit 0), or waits for the first (``wait_lock``).
- Suppliers whose journal entry is final (activated; a business outcome or ``failed``
  unless ``retry_failed``) are not run again: their last result goes into the report. Any
  other (new, interrupted, pending activation) runs, resuming from its checkpoint.
- ``concurrency`` worker threads each drive the one shared Chromium (``SharedBrowser``)
  with one browser context per supplier; all share one ``ActivationMailbox`` (one IMAP
  connection, plus-addressed mails told apart by recipient) and one ``Journal``.
- Each supplier goes through ``register_with_retries``: technical faults are retried with
  exponential back-off up to ``MAX_ATTEMPTS``, business outcomes are returned at once.
- Ctrl-C / SIGTERM: no new supplier starts; those in flight finish (a second signal ends
  the process at once: the write-ahead journal makes the next run resume them).
- Pre-flight, before any supplier starts: the IMAP login (refused: ``ConfigError``, exit 2)
  and the portal's home page (no answer at all: nothing starts, the journal is left as it
  was, the report says why, exit 3).
- While the portal is down (maintenance, no answer) the batch waits at a ``PortalGate``
  instead of spending the suppliers' attempts against it (see ``bot.flows.gate``).
"""
from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger
from rich.console import Console

from bot.batchfile import RowError
from bot.browser_loop import SharedBrowser
from bot.credentials import CredentialStore
from bot.errors import ConfigError, TechnicalFault
from bot.captcha import desk_for
from bot.flows.account_first import PasswordTries
from bot.flows.gate import PortalDown, PortalGate, check_portal
from bot.flows.registration import RegistrationFlow, register_with_retries
from bot.journal import Journal, JournalEntry, RunLock, is_final, shown_state_db
from bot.logs import setup_logging
from bot.mail import ActivationMailbox, check_login
from bot.models import RegistrationResult, Status, Supplier
from bot.progress import BatchProgress
from bot.report import summary_table, write_report, write_text_atomically
from bot.report_html import HTML_REPORT, RunReport, load_run, render_html, run_settings
from bot.runs import exit_code, new_run_id
from bot.secrets import registry
from bot.settings import Settings
from bot.tracing import make_run_dir, prune_runs, run_dir

if TYPE_CHECKING:
    from bot.desk import WebDesk

JOIN_POLL_S = 0.5


@dataclass
class BatchRun:
    """What a batch did. ``results`` follow the file's order (bad rows included)."""

    run_id: str | None
    results: list[RegistrationResult] = field(default_factory=list)
    exit_code: int = 0
    report_path: Path | None = None
    skipped: int = 0  # final in the journal, not run again
    locked_out: bool = False  # another run held the journal: nothing was done


def expand_report_path(path: Path | str, run_id: str) -> Path:
    """``{run_id}`` and ``{date}`` (YYYY-MM-DD, UTC) in a report path, for scheduled runs."""
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return Path(str(path).replace("{run_id}", run_id).replace("{date}", today))


def row_error_result(error: RowError) -> RegistrationResult:
    """A bad row of the file as a report line: ``invalid_input``, nothing was started."""
    return RegistrationResult(
        siret=error.siret, email=error.email, status=Status.invalid_input,
        message=f"line {error.line}: {error.reason} (row skipped)",
    )


def journal_result(entry: JournalEntry) -> RegistrationResult:
    """The last result the journal holds for a supplier that is not run again."""
    if entry.result is not None:
        return entry.result
    return RegistrationResult(
        siret=entry.siret, email=entry.email, status=Status(entry.status), message=entry.message or "",
        attempts=entry.attempts, started_at=entry.started_at, finished_at=entry.finished_at,
        trace=entry.trace, step=entry.step, artifacts=entry.artifacts,
    )


def run_batch(
    settings: Settings,
    suppliers: Sequence[tuple[int, Supplier]],
    *,
    concurrency: int | None = None,
    retry_failed: bool = False,
    report_path: Path | str | None = None,
    dry_run: bool = False,
    wait_lock: bool = False,
    row_errors: Sequence[RowError] = (),
    headless: bool | None = None,
    slow_mo: float | None = None,
    console: Console | None = None,
    interactive: bool | None = None,
    web_desk: "WebDesk | None" = None,
) -> BatchRun:
    """Run the batch (see the module doc); prints progress, the summary and writes the report.

    ``web_desk``: the captcha desk of ``batch --desk``, serving every worker (else CHORUS_CAPTCHA's)."""
    console = console or Console()
    lock = RunLock(settings.state_db)
    if not lock.acquire(wait=False):
        holder = lock.holder()
        if not wait_lock:
            console.print(f"another run holds the journal {shown_state_db(settings.state_db)} ({holder}): not starting")
            return BatchRun(run_id=None, locked_out=True)
        console.print(f"another run holds the journal {shown_state_db(settings.state_db)} ({holder}):"
                      " waiting for it to end")
        lock.acquire(wait=True)
    try:
        return _Batch(settings, console, dry_run, headless, slow_mo, interactive, web_desk).run(
            suppliers, row_errors, concurrency or settings.concurrency, retry_failed, report_path
        )
    finally:
        lock.release()


class _Batch:
    """One run's state: its id, the results so far, the stop request shared with the workers."""

    def __init__(self, settings: Settings, console: Console, dry_run: bool, headless: bool | None,
                 slow_mo: float | None, interactive: bool | None, web_desk: "WebDesk | None" = None):
        self.settings = settings
        self.web_desk = web_desk
        self.console = console
        self.dry_run = dry_run
        self.headless = headless
        self.slow_mo = slow_mo
        self.interactive = interactive
        self.run_id = new_run_id()
        self.stop = threading.Event()
        self.workers_left = 0  # workers not yet ended (guarded by `lock`); `workers_done` when 0
        self.workers_done = threading.Event()
        self.lock = threading.Lock()
        self.captcha_desk = None  # set by the pre-flight (CHORUS_CAPTCHA)
        self.password_tries = PasswordTries()  # per account, for the whole run
        self.abort_reason: str | None = None
        self.results: dict[int, RegistrationResult] = {}
        self.journal: Journal | None = None

    def run(self, suppliers, row_errors, concurrency, retry_failed, report_path) -> BatchRun:
        settings = self.settings
        setup_logging(settings, self.run_id)
        journal = self.journal = Journal(settings.state_db)
        try:
            journal.start_run(self.run_id, run_settings(settings, concurrency, self.dry_run))
            todo: list[tuple[int, Supplier]] = []
            for index, (_, supplier) in enumerate(suppliers):
                entry = journal.get(supplier.siret)
                if is_final(entry, retry_failed):
                    self.results[index] = journal_result(entry)
                else:
                    todo.append((index, supplier))
            skipped = len(suppliers) - len(todo)
            gate = self._preflight() if todo else None
            mode = " (dry run)" if self.dry_run else ""
            self.console.print(
                f"batch {self.run_id}{mode}: {len(todo)} supplier(s) to run, {skipped} already final"
                f" in the journal, {len(row_errors)} bad row(s) skipped; concurrency {min(concurrency, max(1, len(todo)))}"
            )
            logger.info(f"batch: {len(todo)} to run, {skipped} final, {len(row_errors)} bad rows")
            if self.abort_reason:
                self.console.print(f"{self.abort_reason}: nothing was started", highlight=False, markup=False,
                                   soft_wrap=True)
                logger.error(f"{self.abort_reason}: nothing was started")
            elif todo:
                browser = SharedBrowser(settings, headless=self.headless, slow_mo=self.slow_mo)
                browser.warm_up()  # while the mailbox connects and the workers start
                try:
                    self._run_workers(todo, journal, browser, concurrency, gate)
                finally:
                    browser.stop()
        finally:
            journal.close()

        results = self._ordered(suppliers, row_errors)
        outcome = BatchRun(
            run_id=self.run_id, results=results, skipped=skipped,
            exit_code=exit_code(results, dry_run=self.dry_run),
        )
        self.console.print(summary_table(results, title=f"Batch {self.run_id}"))
        html = self._finish_run(results)
        if report_path is not None:
            target = expand_report_path(report_path, self.run_id)
            if target.suffix.lower() == ".html":
                outcome.report_path = write_text_atomically(target, html or render_html(self._run_report()))
            else:
                outcome.report_path = write_report(results, target)
            self.console.print(f"report: {outcome.report_path}")
        if any(run_dir(settings, self.run_id).glob("*/attempt-*/trace.zip")):
            self.console.print(f"traces: {run_dir(settings, self.run_id)} (open one: playwright show-trace PATH)")
        if self.abort_reason:
            self.console.print(f"stopped early: {self.abort_reason}")
        prune_runs(settings, keep=self.run_id)
        return outcome

    def _finish_run(self, results: list[RegistrationResult]) -> str | None:
        """Record the run's end in the journal and write its HTML report into its artifact
        folder; returns the HTML. A failure here is logged, never lost work: the journal holds
        the results and `chorus-bot report` rebuilds the file."""
        with Journal(self.settings.state_db) as journal:
            journal.finish_run(self.run_id, results)
        try:
            html = render_html(self._run_report())
            path = write_text_atomically(make_run_dir(self.settings, self.run_id) / HTML_REPORT, html)
        except Exception as exc:  # noqa: BLE001 - the batch's outcome stands without its HTML copy
            logger.exception(f"HTML report not written: {type(exc).__name__}")
            self.console.print(f"HTML report not written ({type(exc).__name__}): chorus-bot report --run {self.run_id}")
            return None
        self.console.print(f"HTML report: {path}", highlight=False, soft_wrap=True)
        return html

    def _run_report(self) -> RunReport:
        with Journal(self.settings.state_db) as journal:
            return load_run(journal, self.settings, self.run_id)

    def _preflight(self) -> PortalGate | None:
        """Before any supplier: the IMAP login (ConfigError propagates: exit 2), then the portal.

        Sets ``abort_reason`` when nothing can start (IMAP or portal not answering at all);
        else returns the run's gate, already closed if the portal answers an error page.
        """
        settings = self.settings
        if self.web_desk is not None:  # one desk for every worker
            self.web_desk.attach(settings, self.run_id)
            self.captcha_desk = self.web_desk
        else:
            self.captcha_desk = desk_for(settings)
        try:
            check_login(settings)  # a wrong password stops here, before any account is created
        except TechnicalFault as exc:
            self.abort_reason = registry.mask(exc.message)
            return None
        gate = PortalGate(settings.portal_url, settings.page_timeout_s, self.console)
        try:
            check_portal(settings.portal_url, settings.page_timeout_s)
        except PortalDown as exc:
            if not exc.reachable:
                self.abort_reason = f"the portal {exc}"
                return None
            gate.close(str(exc))  # e.g. a maintenance page: wait for its end, as after a fault
        return gate

    # -- workers -------------------------------------------------------------------------

    def _run_workers(self, todo, journal: Journal, browser: SharedBrowser, concurrency: int, gate: PortalGate) -> None:
        settings = self.settings
        work: queue.SimpleQueue[tuple[int, Supplier]] = queue.SimpleQueue()
        for item in todo:
            work.put(item)
        credentials = CredentialStore(settings.state_db, settings.secret_key)
        progress = BatchProgress(
            len(todo), interactive=self.interactive, console=self.console,
            waiting=self.web_desk.waiting_count if self.web_desk else None,
        )
        mailbox = ActivationMailbox(settings, settings.portal_url, login_checked=True)  # by _preflight
        threads = [
            threading.Thread(
                target=self._worker, args=(n, work, journal, browser, mailbox, credentials, progress, gate),
                name=f"batch-worker-{n}",
                daemon=True,  # a second Ctrl-C ends the process at once; the journal resumes
            )
            for n in range(min(concurrency, len(todo)))
        ]
        self.workers_left = len(threads)
        # In a terminal, rebind the log sinks once rich redirects stderr, so log lines print above the bar.
        progress.start(on_live=lambda: setup_logging(settings, self.run_id))
        previous = _sigterm_as_interrupt()
        try:
            for thread in threads:
                thread.start()
            self._join()
        finally:
            _restore_handlers(previous)
            gate.stop()
            progress.stop()
            if progress.interactive:
                setup_logging(settings, self.run_id)
            mailbox.close()

    def _join(self) -> None:
        """Wait for the workers; Ctrl-C / SIGTERM stops new starts, a second one ends the process.

        Waits on the workers' own count, not on ``Thread.join``/``is_alive``: a KeyboardInterrupt
        landing inside ``join`` can leave CPython 3.11 reporting a running thread as dead, and
        the run would then end under a supplier still in flight.
        """
        while self.workers_left:
            try:
                self.workers_done.wait(JOIN_POLL_S)
            except KeyboardInterrupt:
                if self.stop.is_set():
                    raise
                self._request_stop("interrupted: no new supplier starts; those in flight finish"
                                   " (interrupt again to stop now; the next run resumes them)")

    def _request_stop(self, reason: str) -> None:
        if not self.stop.is_set():
            self.abort_reason = reason
            self.stop.set()
            self.console.print(reason)
            logger.warning(reason)

    def _worker(
        self, n: int, work: queue.SimpleQueue, journal: Journal, browser: SharedBrowser,
        mailbox: ActivationMailbox, credentials: CredentialStore, progress: BatchProgress, gate: PortalGate,
    ) -> None:
        """One thread, one supplier at a time, on the batch's one browser loop (``SharedBrowser``)."""
        flow = GatedFlow(
            self.settings, browser.new_context, mailbox, journal, credentials, self.run_id, dry_run=self.dry_run,
            gate=gate, captcha_desk=self.captcha_desk, password_tries=self.password_tries,
        )
        pace_s = self.settings.pace_ms / 1000
        try:
            if self.stop.wait(pace_s * n):  # staggered start: the portal sees a steady pace
                return
            first = True
            while not self.stop.is_set():
                try:
                    index, supplier = work.get_nowait()
                except queue.Empty:
                    return
                if not first and self.stop.wait(pace_s):
                    work.put((index, supplier))
                    return
                if gate.gave_up:
                    work.put((index, supplier))
                    self._request_stop(gate.gave_up)
                    return
                first = False
                progress.started(supplier)
                result = self._one(flow, supplier)
                self.results[index] = result
                progress.finished(result)
        finally:
            with self.lock:
                self.workers_left -= 1
                if self.workers_left == 0:
                    self.workers_done.set()

    def _one(self, flow: RegistrationFlow, supplier: Supplier) -> RegistrationResult:
        return register_one(
            flow, supplier, self.settings, None if self.dry_run else self.journal,
            on_config_error=lambda message: self._request_stop(f"configuration error: {message}"),
        )

    def _ordered(self, suppliers, row_errors) -> list[RegistrationResult]:
        """File order: each supplier's result (or 'not started') and each bad row, by line."""
        lines: list[tuple[int, RegistrationResult]] = []
        for index, (line, supplier) in enumerate(suppliers):
            result = self.results.get(index) or RegistrationResult(
                siret=supplier.siret, email=supplier.email, status=Status.failed,
                message=f"not started: {self.abort_reason or 'the run stopped'}; the next run starts it",
            )
            lines.append((line, result))
        lines += [(error.line, row_error_result(error)) for error in row_errors]
        return [result for _, result in sorted(lines, key=lambda pair: pair[0])]


def register_one(
    flow: RegistrationFlow, supplier: Supplier, settings: Settings, journal: Journal | None,
    on_config_error: Callable[[str], None],
) -> RegistrationResult:
    """One supplier with retries; an error outside the flow's contract fails only it.

    A ``ConfigError`` (IMAP login refused, bad key...) would fail every supplier alike: it is
    reported to ``on_config_error`` (which stops the run) and fails this one. ``journal``:
    where a failure is recorded (None in a dry run)."""
    try:
        return register_with_retries(flow, supplier, settings)
    except ConfigError as exc:
        on_config_error(str(exc))
        return failed_result(journal, supplier, f"configuration error: {exc}")
    except Exception as exc:  # noqa: BLE001 - a bug must not kill the worker and the batch
        with logger.contextualize(siret=supplier.siret, run_id=flow.run_id):
            logger.exception(f"unexpected error: {type(exc).__name__}")
        first_line = (str(exc).splitlines() or [""])[0]
        return failed_result(journal, supplier, f"unexpected error: {type(exc).__name__}: {first_line}")


def failed_result(journal: Journal | None, supplier: Supplier, message: str) -> RegistrationResult:
    """A ``failed`` result (secrets masked), recorded in the journal when it knows the supplier."""
    result = RegistrationResult(
        siret=supplier.siret, email=supplier.email, status=Status.failed, message=registry.mask(message),
        finished_at=datetime.now(timezone.utc),
    )
    entry = journal.get(supplier.siret) if journal is not None else None
    if entry is not None:
        result.attempts, result.started_at = entry.attempts, entry.started_at
        journal.finish(result)
    return result


class GatedFlow(RegistrationFlow):
    """A registration flow whose attempts wait while the portal is down (``PortalGate``)."""

    def __init__(self, *args, gate: PortalGate, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = gate

    def run(self, supplier: Supplier) -> RegistrationResult:
        self.gate.wait()
        try:
            return super().run(supplier)
        except TechnicalFault:
            self.gate.after_fault()  # the portal itself down? then the next attempt waits for it
            raise


def _sigterm_as_interrupt():
    """SIGTERM (systemd stop, kill) behaves like Ctrl-C; the previous handler, to restore.

    Only the main thread may install handlers (run_batch called from another thread: none).
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_term(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, on_term)


def _restore_handlers(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
