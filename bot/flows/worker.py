"""`chorus-bot worker`: one machine's share of batches queued by ``batch --enqueue``.

A worker is a ``batch`` whose suppliers come from the shared queue (``bot.jobqueue``) instead
of a file, and which runs until it is stopped:

- the same pre-flight (the IMAP login, the portal), one Chromium, one IMAP connection, one
  journal and credential store (both in the PostgreSQL state DB), ``concurrency`` threads;
- procrastinate's worker fetches jobs (one per supplier, at most ``concurrency`` at a time)
  in an asyncio loop and hands each to a free thread, which runs the supplier exactly as
  ``batch`` does (``register_one``: retries, business outcomes, the journal);
- every ``CHORUS_WORKER_HEARTBEAT_S`` it tells the database it is alive. Each worker also
  looks for jobs held by a worker silent for longer than ``CHORUS_WORKER_STALLED_S`` (killed,
  machine lost) and queues them again: whoever takes one finds the supplier's checkpoint in
  the journal and resumes from it, never from the start;
- a job whose supplier is already final in the journal (its worker died between recording
  the outcome and closing the job) ends at once;
- workers share the journal's run lock (``PgRunLock``, shared): a local ``batch`` or
  ``register`` on the same journal waits for them, and they for it;
- Ctrl-C / SIGTERM: no new supplier starts, those in flight finish, then the worker ends.
  A ConfigError (the IMAP password refused...) or a portal down for too long stops it too.
"""
from __future__ import annotations

import asyncio
import logging
import os
import queue
import socket
import threading
from dataclasses import dataclass

from loguru import logger
from rich.console import Console

from bot.browser_loop import SharedBrowser
from bot.captcha import CaptchaDesk, desk_for
from bot.credentials import CredentialStore
from bot.desk_shared import SharedDeskClient
from bot.errors import ConfigError, TechnicalFault
from bot.flows.account_first import PasswordTries
from bot.flows.batch import GatedFlow, register_one
from bot.flows.gate import PortalDown, PortalGate, check_portal
from bot.jobqueue import QUEUE, TASK_NAME, PutBack, finish_if_complete, make_app
from bot.journal import RUNNING, Journal, is_final
from bot.journal_pg import PgRunLock
from bot.logs import setup_logging
from bot.mail import ActivationMailbox, check_login
from bot.models import Supplier
from bot.runs import EXIT_OK, EXIT_TECHNICAL, EXIT_USAGE
from bot.secrets import first_line
from bot.settings import Settings

_STOP = object()


@dataclass
class _Job:
    job_id: int
    run_id: str
    supplier: Supplier
    retry_failed: bool
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future


@dataclass(frozen=True)
class _Shared:
    """What the slot threads of one worker share: one of each per machine."""

    journal: Journal
    credentials: CredentialStore
    browser: SharedBrowser
    mailbox: ActivationMailbox
    gate: PortalGate
    captcha_desk: "CaptchaDesk | SharedDeskClient | None"
    password_tries: PasswordTries


class QueueWorker:
    def __init__(self, settings: Settings, concurrency: int, *, headless: bool | None = None,
                 slow_mo: float | None = None, console: Console | None = None, shared_desk: bool = False):
        """``shared_desk``: captchas go to the desk every worker shares (``desk --serve``), not to
        CHORUS_CAPTCHA's."""
        if not settings.uses_postgres:
            raise ConfigError("CHORUS_STATE_DB must be a postgresql:// URL for workers (the queue lives there)")
        self.settings = settings
        self.url = str(settings.state_db)
        self.concurrency = concurrency
        self.headless = headless
        self.slow_mo = slow_mo
        self.shared_desk = shared_desk
        self.console = console or Console()
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.stop_reason: str | None = None
        self.exit_code = EXIT_OK
        self._worker = None  # procrastinate's, once running

    def run(self) -> int:
        settings = self.settings
        setup_logging(settings, f"worker-{self.name}")
        logging.getLogger("procrastinate").setLevel(logging.WARNING)  # its lines repeat every job's arguments
        lock = PgRunLock(self.url, shared=True)  # beside other workers, never beside a local batch
        if not lock.acquire(wait=False):
            self.console.print(f"a batch run holds the journal {lock.path} ({lock.holder()}): waiting for it to end",
                               highlight=False, soft_wrap=True)
            lock.acquire(wait=True)
        try:
            return self._run()
        finally:
            lock.release()

    def _run(self) -> int:
        settings = self.settings
        journal = Journal(self.url)
        credentials = CredentialStore(self.url, settings.secret_key)
        check_login(settings)  # a wrong password stops here (ConfigError), before any job is taken
        gate = PortalGate(settings.portal_url, settings.page_timeout_s, self.console)
        try:
            check_portal(settings.portal_url, settings.page_timeout_s)
        except PortalDown as exc:
            if not exc.reachable:
                raise TechnicalFault(f"the portal {exc}") from None
            gate.close(str(exc))
        browser = SharedBrowser(settings, headless=self.headless, slow_mo=self.slow_mo)  # launched by the first job
        mailbox = ActivationMailbox(settings, settings.portal_url, login_checked=True)
        captcha_desk = (SharedDeskClient(self.url, settings.desk_timeout_s, self.name) if self.shared_desk
                        else desk_for(settings))
        shared = _Shared(journal, credentials, browser, mailbox, gate, captcha_desk, PasswordTries())
        threads = [threading.Thread(target=self._thread, args=(shared,), name=f"worker-slot-{n}", daemon=True)
                   for n in range(self.concurrency)]
        for thread in threads:
            thread.start()
        self.console.print(f"worker {self.name}: taking suppliers from {journal.shown}, {self.concurrency} at a time"
                           " (Ctrl-C: finish those in flight, then stop)", highlight=False, soft_wrap=True)
        logger.info(f"worker {self.name} started, concurrency {self.concurrency}")
        try:
            asyncio.run(self._serve())
        finally:
            for _ in threads:
                self.jobs.put(_STOP)
            for thread in threads:
                thread.join(timeout=60)
            gate.stop()
            mailbox.close()
            browser.stop()
            journal.close()
        logger.info(f"worker {self.name} stopped" + (f": {self.stop_reason}" if self.stop_reason else ""))
        return self.exit_code

    # -- the asyncio side: procrastinate's worker and the takeover of stalled jobs -------------

    async def _serve(self) -> None:
        from procrastinate.worker import Worker

        outer = self

        class _Worker(Worker):
            def stop(self) -> None:  # a signal (Ctrl-C, SIGTERM) or `_stop`: say what happens next
                if not self._stop_event.is_set() and outer.stop_reason is None:
                    outer.stop_reason = "interrupted"
                    outer.console.print("interrupted: no new supplier starts; those in flight finish"
                                        " (interrupt again to stop now; the queue gives them to another worker)")
                    logger.warning("worker interrupted: finishing the suppliers in flight")
                super().stop()

        app = make_app(self.url, register=self._register)
        async with app.open_async():
            self._worker = _Worker(
                app, queues=[QUEUE], name=self.name, concurrency=self.concurrency, delete_jobs="successful",
                update_heartbeat_interval=self.settings.worker_heartbeat_s,
                stalled_worker_timeout=self.settings.worker_stalled_s,
                shutdown_graceful_timeout=None, install_signal_handlers=True,
            )
            takeover = asyncio.create_task(self._take_over_stalled(app))
            try:
                await self._worker.run()
            finally:
                takeover.cancel()

    async def _take_over_stalled(self, app) -> None:
        """Queue again the jobs of workers silent for longer than CHORUS_WORKER_STALLED_S."""
        every = max(1.0, self.settings.worker_stalled_s / 3)
        while True:
            await asyncio.sleep(every)  # a period between two looks at the queue, not a wait for a page
            try:
                stalled = await app.job_manager.get_stalled_jobs(
                    queue=QUEUE, task_name=TASK_NAME, seconds_since_heartbeat=self.settings.worker_stalled_s
                )
                for job in stalled:
                    siret = (job.task_kwargs.get("supplier") or {}).get("siret", "?")
                    logger.warning(f"taking over supplier {siret}: its worker has been silent for more than"
                                   f" {self.settings.worker_stalled_s:g} s; it resumes from its journal checkpoint")
                    await app.job_manager.retry_job(job)
            except Exception as exc:  # noqa: BLE001 - the next look tries again
                logger.warning(f"looking for stalled jobs failed: {first_line(exc)}")

    async def _register(self, job_id: int, run_id: str, supplier: dict, retry_failed: bool) -> None:
        if self.stop_reason:
            raise PutBack(self.stop_reason)
        loop = asyncio.get_running_loop()
        job = _Job(job_id, run_id, Supplier.model_validate(supplier), retry_failed, loop, loop.create_future())
        self.jobs.put(job)
        await job.done

    def _stop(self, reason: str, code: int) -> None:
        """No new supplier starts; those in flight finish (called from a slot thread)."""
        if self.stop_reason is None:
            self.stop_reason, self.exit_code = reason, code
            self.console.print(f"worker stopping: {reason}", highlight=False, soft_wrap=True)
            logger.error(f"worker stopping: {reason}")
            if self._worker is not None:
                self._worker.stop()  # thread-safe in procrastinate 3

    # -- the slot threads: one supplier at a time each, all on the one browser loop -----------

    def _thread(self, shared: _Shared) -> None:
        while (job := self.jobs.get()) is not _STOP:
            error: BaseException | None = None
            try:
                self._one(job, shared)
            except BaseException as exc:  # noqa: BLE001 - handed to the job's coroutine
                error = exc
            job.loop.call_soon_threadsafe(_settle, job.done, error)

    def _one(self, job: _Job, shared: _Shared) -> None:
        supplier, journal, gate, captcha_desk = job.supplier, shared.journal, shared.gate, shared.captcha_desk
        entry = journal.get(supplier.siret)
        if entry is not None and entry.run_id == job.run_id and entry.status != RUNNING:
            # its worker recorded the outcome, then died before closing the job
            logger.info(f"supplier {supplier.siret} already done in run {job.run_id} ({entry.status}): nothing to do")
        elif is_final(entry, job.retry_failed):
            logger.info(f"supplier {supplier.siret} is final in the journal ({entry.status}): not run again")
        else:
            if gate.gave_up:
                self._stop(gate.gave_up, EXIT_TECHNICAL)
                raise PutBack(gate.gave_up)
            if isinstance(captcha_desk, SharedDeskClient):
                captcha_desk.know(supplier)  # its SIRET and company on the desk's card
            flow = GatedFlow(
                self.settings, shared.browser.new_context, shared.mailbox, journal, shared.credentials, job.run_id,
                gate=gate, captcha_desk=captcha_desk, password_tries=shared.password_tries,
            )
            result = register_one(
                flow, supplier, self.settings, journal,
                on_config_error=lambda message: self._stop(f"configuration error: {message}", EXIT_USAGE),
            )
            logger.info(f"supplier {supplier.siret}: {result.status.value}")
        finish_if_complete(self.url, journal, job.run_id)


def _settle(future: asyncio.Future, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
