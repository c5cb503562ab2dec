"""Register one supplier on Chorus Pro: pre-flight, the 4 steps, then activation over IMAP.

The journey follows the supplier guide ("You are new on Chorus Pro..."): cookie banner ->
the language of CHORUS_LANGUAGE (the guide's English version, or French) -> step 1 (login
email, SIRET) -> step 2 (INSEE autofill checked against the master data, contact,
notification email, terms) -> step 3 (work areas) -> step 4 (account created) -> the
activation mail -> password and secret question -> activated.

Resumable: the journal is written BEFORE every click that changes the portal
(ARCHITECTURE.md "Checkpoints"), so a run killed anywhere resumes without creating the
account twice. One `run()` is one attempt: business outcomes come back as a result,
technical faults raise `TechnicalFault` and `register_with_retries` retries them.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from loguru import logger
from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from bot import credentials as creds
from bot.captcha import CaptchaDesk, desk_for
from bot.errors import BusinessOutcome, CeaTrapError, ScreenDrift, TechnicalFault
from bot.flows.account_first import AccountFirstJourney, PasswordTries
from bot.flows.steps import _Attempt, _now, check_insee, follow_activation_link, no_activation_mail, preflight
from bot.journal import ACCOUNT_FIRST_CHECKPOINTS, Checkpoint, Journal, JournalEntry
from bot.models import DEFAULT_AREAS, RegistrationResult, Status, Supplier
from bot.pages.activation import ActivatedPage, ActivationPage, InvalidLinkPage, open_link
from bot.pages.account import AccountPage
from bot.pages.base import CeaGuard
from bot.pages.home import HomePage
from bot.pages.login import LoginPage
from bot.pages.personal import PersonalInfoPage
from bot.pages.structure import StructurePage
from bot.pages.structure_exists import StructureExistsPage
from bot.pages.work_areas import WorkAreasPage
from bot.secrets import first_line, registry
from bot.runs import DRY_RUN_STEP
from bot.settings import Journey, Settings
from bot.siret import normalise_siret
from bot.tracing import TraceRecorder

FROM_SETTINGS = object()  # RegistrationFlow's default captcha desk: CHORUS_CAPTCHA's


class Mailbox(Protocol):
    def wait_for_link(self, email: str, since: datetime, timeout_s: float) -> str | None: ...
    def wait_for_code(self, email: str, since: datetime, timeout_s: float) -> str | None: ...


class RegistrationFlow:
    """One supplier, one attempt per `run()` (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        context_factory: Callable[[], BrowserContext],
        mailbox: Mailbox,
        journal: Journal | None,
        credentials: creds.CredentialStore,
        run_id: str,
        dry_run: bool = False,
        *,
        captcha_desk: CaptchaDesk | None | object = FROM_SETTINGS,
        password_tries: PasswordTries | None = None,
    ):
        """``captcha_desk``: who answers a captcha (default: CHORUS_CAPTCHA's, a ConfigError if it
        cannot work); a batch passes one desk to all its workers."""
        self.settings = settings
        self.captcha_desk: CaptchaDesk | None = (
            desk_for(settings) if captcha_desk is FROM_SETTINGS else captcha_desk  # type: ignore[assignment]
        )
        self.password_tries = password_tries or PasswordTries()
        self.context_factory = context_factory
        self.mailbox = mailbox
        self.journal = journal
        self.credentials = credentials
        self.run_id = run_id
        self.dry_run = dry_run

    # ---- one attempt ---------------------------------------------------------------------
    def run(self, supplier: Supplier) -> RegistrationResult:
        with logger.contextualize(siret=normalise_siret(supplier.siret), run_id=self.run_id):
            return self._run(supplier)

    def _run(self, supplier: Supplier) -> RegistrationResult:
        attempt = _Attempt(supplier=supplier, started_at=_now())
        try:
            supplier = attempt.supplier = preflight(supplier, self.settings)
        except BusinessOutcome as exc:
            logger.warning(f"pre-flight: {exc.message}")
            return self._finish(attempt, exc.status, exc.message, record=not self.dry_run)

        entry = self.journal.get(supplier.siret) if self.journal and not self.dry_run else None
        if entry and entry.checkpoint is Checkpoint.done:
            logger.info("already activated (journal): nothing to do")
            return self._finish(attempt, Status.activated, "already activated (journal)", record=False)
        if self.journal and not self.dry_run:
            entry = self.journal.start_attempt(supplier, self.run_id)
            attempt.attempts, attempt.started_at = entry.attempts, entry.started_at or attempt.started_at

        result = self._in_browser(attempt, entry)
        if self.journal and not self.dry_run:
            self.journal.finish(result)
        logger.info(f"result: {result.status.value} ({result.message})")
        return result

    def _in_browser(self, attempt: _Attempt, entry: JournalEntry | None) -> RegistrationResult:
        """The browser part of an attempt, in its own context, traced, behind the CEA guard."""
        try:
            context = self.context_factory()
        except PlaywrightError as exc:  # Chromium would not start (no display for --headed...)
            raise _as_fault(exc, "browser start") from None
        try:
            context.set_default_timeout(self.settings.page_timeout_s * 1000)
            guard = CeaGuard().install(context)
            recorder = attempt.recorder = TraceRecorder(
                context, self.settings, self.run_id, attempt.supplier.siret, attempt=attempt.attempts
            )
            recorder.start()
            page = context.new_page()
            guard.watch(page)
            try:
                try:
                    result = self._journey(page, attempt, entry)
                except BusinessOutcome as exc:
                    logger.warning(f"{attempt.step}: {exc.message}")
                    result = self._result(attempt, exc.status, exc.message, screen=exc.screen)
                if guard.error():
                    raise guard.error()  # type: ignore[misc]
            except (TechnicalFault, PlaywrightError, CeaTrapError) as exc:
                raise self._fault(exc, guard, page, attempt) from None
            except BaseException:
                recorder.finish(failed=True)
                raise
            result.trace = recorder.finish(
                failed=result.status is not Status.activated and result.step != DRY_RUN_STEP
            )
            return result
        finally:
            try:
                context.close()
            except PlaywrightError:
                pass

    def _fault(self, exc: BaseException, guard: CeaGuard, page: Page, attempt: _Attempt) -> Exception:
        """The exception to raise for a failed attempt, with its evidence (artifacts, trace)."""
        recorder = attempt.recorder
        error: Exception = guard.error() or (exc if isinstance(exc, CeaTrapError) else _as_fault(exc, attempt.step))
        message = getattr(error, "message", None) or str(error)
        logger.error(f"{attempt.step}: {message}")
        artifacts = recorder.capture_failure(page, error, step=attempt.step)
        trace = recorder.finish(failed=True)
        # Evidence for the final `failed` result (register_with_retries reads these).
        error.step, error.artifacts, error.trace = attempt.step, artifacts, trace  # type: ignore[attr-defined]
        if self.journal and not self.dry_run:
            self.journal.update(attempt.supplier.siret, step=attempt.step, last_error=message)
        return error

    # ---- the journey -----------------------------------------------------------------------
    def _journey(self, page: Page, attempt: _Attempt, entry: JournalEntry | None) -> RegistrationResult:
        """The guide's journey, or the account-first one (CHORUS_JOURNEY; `auto`: the screen
        "Create an account" opens tells; a supplier resumed keeps the journey it started)."""
        checkpoint = entry.checkpoint if entry else Checkpoint.new
        home = self._open_home(page, attempt)
        journey = self.settings.journey
        if checkpoint in ACCOUNT_FIRST_CHECKPOINTS:
            journey = Journey.account_first
        elif checkpoint is not Checkpoint.new:
            journey = Journey.guide
        if journey is Journey.account_first:
            return AccountFirstJourney(self, page, attempt).run(home, entry, None)
        if journey is Journey.auto:
            attempt.enter("sign-up")
            first = home.create_account_any()
            if isinstance(first, PersonalInfoPage):
                logger.info("the portal runs the account-first journey")
                return AccountFirstJourney(self, page, attempt).run(home, entry, first)
            return self._guide(page, attempt, entry, home, first)
        return self._guide(page, attempt, entry, home, None)

    def _guide(
        self, page: Page, attempt: _Attempt, entry: JournalEntry | None, home: HomePage, step1: AccountPage | None
    ) -> RegistrationResult:
        """The supplier guide's journey: steps 1 to 4, then the activation mail."""
        supplier = attempt.supplier
        checkpoint = entry.checkpoint if entry else Checkpoint.new
        mail_since = entry.mail_since if entry else None

        if checkpoint is Checkpoint.activating:
            return self._resume_activating(page, attempt, mail_since)
        if checkpoint is Checkpoint.account_created and mail_since:
            logger.info("resuming: the account was created, waiting for the activation mail")
            return self._activate(page, attempt, mail_since)

        attempt.enter("step 1 (account)")
        if step1 is None:
            try:
                step1 = home.create_account()
            except ScreenDrift:
                if not PersonalInfoPage(page, self.settings.page_timeout_s).missing():
                    raise BusinessOutcome(
                        Status.failed,
                        "CHORUS_JOURNEY is guide but the portal runs the account-first journey (its "
                        "'Personal information' form): set CHORUS_JOURNEY=auto or account-first",
                        screen=PersonalInfoPage.SCREEN,
                    ) from None
                raise
        try:
            nxt = step1.submit(supplier.email, supplier.siret)
        except BusinessOutcome as exc:
            if exc.status is Status.email_in_use and checkpoint is Checkpoint.creating_account and mail_since:
                # Our own step-3 Validate went through before the crash: the account exists.
                logger.info("resuming: the account was created before the interruption")
                self._checkpoint(supplier, Checkpoint.account_created, mail_since=mail_since)
                return self._activate(page, attempt, mail_since)
            raise
        if isinstance(nxt, StructureExistsPage):
            return self._structure_exists(nxt, attempt)

        attempt.enter("step 2 (structure)")
        self._fill_structure(nxt, attempt)
        step3 = nxt.validate()

        attempt.enter("step 3 (work areas)")
        self._choose_areas(step3, attempt)
        if self.dry_run:
            message = "dry run: filled steps 1 to 3 and stopped before the step-3 Validate; nothing was created"
            return self._result(attempt, Status.pending_activation, message, step=DRY_RUN_STEP)

        since = _now()
        self._checkpoint(supplier, Checkpoint.creating_account, mail_since=since, step=attempt.step)
        created = step3.validate()
        attempt.enter("step 4 (account created)")
        self._checkpoint(supplier, Checkpoint.account_created, mail_since=since, step=attempt.step)
        role = "primary manager" if created.is_primary_manager() else "member"
        if not created.mail_sent_to(supplier.email):
            logger.warning("step 4 does not name the login email as the activation mail's recipient")
        logger.info(f"account created ({role}); waiting for the activation mail")
        return self._activate(page, attempt, since)

    def _open_home(self, page: Page, attempt: _Attempt) -> HomePage:
        """The home page, cookie banner answered, in the language of CHORUS_LANGUAGE."""
        attempt.enter("home")
        assert self.settings.portal_url
        home = HomePage(page, self.settings.page_timeout_s).open(self.settings.portal_url + "/")
        home.accept_cookies()
        language = home.choose_language(self.settings.language)
        logger.info(f"the portal is in {'English' if language == 'en' else 'French'}")
        return home

    def _structure_exists(self, page: StructureExistsPage, attempt: _Attempt) -> RegistrationResult:
        attempt.enter(StructureExistsPage.SCREEN)
        manager = page.manager_hint()
        whose = f" (primary manager {manager})" if manager else ""
        if self.settings.join_existing and self.dry_run:
            message = f"the structure already exists{whose}: dry run, join request not sent"
        elif self.settings.join_existing:
            page.request_to_join()
            message = f"the structure already exists{whose}: join request sent to its primary manager"
        else:
            message = (
                f"the structure already exists{whose}: no account created; "
                "ask its primary manager to attach you (or set CHORUS_JOIN_EXISTING=true)"
            )
        return self._result(attempt, Status.exists, message, screen=StructureExistsPage.SCREEN)

    def _fill_structure(self, step2: StructurePage, attempt: _Attempt) -> None:
        supplier = attempt.supplier
        step2.wait_for_autofill(self.settings.autofill_timeout_s)
        check_insee(step2, attempt, self.settings)
        if supplier.notification_email:
            step2.add_notification_email(supplier.notification_email)
        step2.fill_contact(supplier.first_name, supplier.last_name, supplier.phone, supplier.job_title)
        step2.accept_terms()
        missing = step2.missing_required()
        if missing:
            raise BusinessOutcome(
                Status.invalid_input,
                f"step 2: required field(s) still empty, not submitted: {', '.join(missing)}",
                screen=StructurePage.SCREEN,
            )

    def _choose_areas(self, step3: WorkAreasPage, attempt: _Attempt) -> None:
        for name in DEFAULT_AREAS:
            if not step3.area_state(name):
                raise TechnicalFault(f"{step3.SCREEN}: the default area '{name}' is not on", screen=step3.SCREEN)
        step3.open_areas(attempt.supplier.areas)
        attempt.areas = step3.open_area_names()

    # ---- activation ----------------------------------------------------------------------------
    def _activate(self, page: Page, attempt: _Attempt, since: datetime) -> RegistrationResult:
        timeout = self.settings.activation_timeout_s
        screen = follow_activation_link(self.mailbox, attempt, since, timeout,
                                        lambda link: open_link(page, link, self.settings.page_timeout_s))
        if screen is None:
            return self._result(attempt, Status.pending_activation, no_activation_mail(timeout))
        if isinstance(screen, InvalidLinkPage):
            raise TechnicalFault("the activation link is not valid (used or superseded)", screen=screen.SCREEN)
        if isinstance(screen, ActivatedPage):
            return self._result(attempt, Status.activated, "account activated")
        assert isinstance(screen, ActivationPage)
        return self._set_secrets(screen, attempt)

    def _set_secrets(self, screen: ActivationPage, attempt: _Attempt) -> RegistrationResult:
        supplier = attempt.supplier
        question = screen.pick_question(creds.pick_question())  # as the portal words it, in its language
        password, answer = creds.generate_password(supplier.email), creds.generate_answer()
        registry.add(password, "password")
        registry.add(answer, "answer")
        # Write-ahead: the secrets are safe before the portal knows them.
        self.credentials.put(supplier.siret, supplier.email, password, question, answer)
        self._checkpoint(supplier, Checkpoint.activating)
        assert attempt.recorder is not None
        with attempt.recorder.secret_section(password, answer):
            screen.fill(password, question, answer)
            screen.validate()
        logger.info("account activated")
        return self._result(attempt, Status.activated, "account activated")

    def _resume_activating(self, page: Page, attempt: _Attempt, mail_since: datetime | None) -> RegistrationResult:
        """The credentials were stored; did the activation Validate go through? Log in to know."""
        supplier = attempt.supplier
        attempt.enter("log in")
        stored = self.credentials.get(supplier.siret)
        if stored is not None:
            assert attempt.recorder is not None
            try:
                with attempt.recorder.secret_section(stored.password):
                    LoginPage(page, self.settings.page_timeout_s).assert_arrived().log_in(stored.email, stored.password)
            except (TechnicalFault, BusinessOutcome) as exc:
                logger.info(f"resuming: log-in refused ({exc}): the activation did not take")
            else:
                logger.info("resuming: the stored credentials log in: the account is active")
                return self._result(attempt, Status.activated, "account activated")
        return self._activate(page, attempt, mail_since or attempt.started_at)

    # ---- bookkeeping ---------------------------------------------------------------------------
    def _checkpoint(self, supplier: Supplier, checkpoint: Checkpoint, **fields) -> None:
        if self.journal and not self.dry_run:
            self.journal.checkpoint(supplier.siret, checkpoint, **fields)

    def _result(
        self, attempt: _Attempt, status: Status, message: str, *, screen: str | None = None, step: str | None = None
    ) -> RegistrationResult:
        return RegistrationResult(
            siret=attempt.supplier.siret,
            email=attempt.supplier.email,
            status=status,
            message=registry.mask(message),
            insee=attempt.insee,
            areas=attempt.areas,
            attempts=attempt.attempts,
            started_at=attempt.started_at,
            finished_at=_now(),
            screen=screen,
            step=step or attempt.step,
        )

    def _finish(self, attempt: _Attempt, status: Status, message: str, *, record: bool) -> RegistrationResult:
        """A result reached without a browser (pre-flight, already done)."""
        result = self._result(attempt, status, message)
        if record and self.journal:
            self.journal.start_attempt(attempt.supplier, self.run_id)
            self.journal.finish(result)
        return result


def _as_fault(exc: BaseException, step: str) -> TechnicalFault:
    """A Playwright error (timeout, crash) as a TechnicalFault naming the step."""
    if isinstance(exc, TechnicalFault):
        return exc
    return TechnicalFault(f"{step}: {' '.join(first_line(exc).split())[:200]}", screen=step)


def register_with_retries(flow: RegistrationFlow, supplier: Supplier, settings: Settings) -> RegistrationResult:
    """Run attempts until one ends (activated, pending or a business outcome) or MAX_ATTEMPTS.

    Technical faults are retried after RETRY_BACKOFF_S x 2^(n-1) seconds. A changed screen
    (ScreenDrift) is retried once, at once (a half-rendered page), never twice: a portal
    whose markup changed will not change back within the minute. A CEA page is a bot defect
    and never retried. What remains is a `failed` result, also journaled.
    """
    started = _now()
    last: Exception | None = None
    attempts = drifts = 0
    for attempts in range(1, settings.max_attempts + 1):
        try:
            return flow.run(supplier)
        except CeaTrapError as exc:
            last = exc
            break
        except TechnicalFault as exc:
            last = exc
            drifts += isinstance(exc, ScreenDrift)
            if attempts >= settings.max_attempts or drifts > 1:
                break
            delay = 0.0 if isinstance(exc, ScreenDrift) else settings.retry_backoff_s * 2 ** (attempts - 1)
            with logger.contextualize(siret=normalise_siret(supplier.siret), run_id=flow.run_id):
                logger.warning(f"attempt {attempts} failed ({exc.message}); retrying in {delay:g} s")
            time.sleep(delay)  # back-off between attempts, not a wait for a page
    message = registry.mask(getattr(last, "message", None) or str(last))
    entry = flow.journal.get(supplier.siret) if flow.journal and not flow.dry_run else None
    result = RegistrationResult(
        siret=entry.siret if entry else normalise_siret(supplier.siret),
        email=supplier.email,
        status=Status.failed,
        message=message,
        attempts=entry.attempts if entry else attempts,
        started_at=(entry.started_at if entry else None) or started,
        finished_at=_now(),
        trace=getattr(last, "trace", None),
        screen=getattr(last, "screen", None),
        step=getattr(last, "step", None),
        artifacts=list(getattr(last, "artifacts", None) or []),
    )
    if entry is not None:
        flow.journal.finish(result)
    with logger.contextualize(siret=result.siret, run_id=flow.run_id):
        logger.error(f"result: failed after {attempts} attempt(s): {message}")
    return result
