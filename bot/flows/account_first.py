"""The live portal's journey today (portal.md "The live portal's journey today", A to I):
the user account first, a person for the captcha, activation, log-in with an e-mailed code,
then the structure.

    personal information (+ captcha) -> "Your account has been created" -> the activation
    mail -> password -> log in on the identity provider -> the code from the mail -> "Create
    a new structure" -> SIRET, "Search" -> the INSEE check -> work areas -> structure created

Resumable like the guide's journey: each checkpoint (bot.journal, "account first") is
written before the click it names, so a run killed anywhere resumes with one account and
one structure. Which click created what is learnt, on resume, from the portal itself: the
activation link (used or not), the log-in (the welcome dialog, or a workspace when the
structure exists).

Never more than MAX_PASSWORD_TRIES password submissions for one account in one run: five
wrong ones lock the account for an hour, and a refused password is never typed again.
"""
from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from loguru import logger
from playwright.sync_api import Page

from bot import credentials as creds
from bot.errors import BusinessOutcome, TechnicalFault
from bot.flows.steps import _Attempt, _now, check_insee, follow_activation_link, no_activation_mail
from bot.journal import Checkpoint, JournalEntry
from bot.models import RegistrationResult, Status
from bot.pages.activation import ActivatedPage, ActivationPage, InvalidLinkPage
from bot.pages.base import BasePage
from bot.pages.home import HomePage
from bot.pages.login import LoginPage, VerificationPage, WorkspacePage
from bot.pages.new_structure import StructureAreasPage, StructureDetailsPage, WelcomeDialog
from bot.pages.password import AccountActivatedPage, SetPasswordPage, open_account_link
from bot.pages.personal import PersonalInfoPage
from bot.pages.structure_exists import StructureExistsPage
from bot.runs import DRY_RUN_STEP
from bot.secrets import registry

if TYPE_CHECKING:
    from bot.flows.registration import RegistrationFlow

MAX_PASSWORD_TRIES = 2
CAPTCHA_TRIES = 3  # wrong answers before `captcha_required`
CAPTCHA_NEW_IMAGES = 5  # "another image" asks, on top of the tries
CODE_VALIDITY_S = 600.0  # the portal's one-time codes live 10 minutes
# On resume from "before Create my account": how long the activation mail of a click that
# went through may take to show before the form is filled again (a second click is harmless:
# the portal refuses a login email already in use).
RESUME_MAIL_WAIT_S = 30.0

# Checkpoints from which the account exists and its password is set (or may be): log in.
_LOG_IN_FROM = {Checkpoint.password_set, Checkpoint.logged_in, Checkpoint.creating_structure}


class PasswordTries:
    """How many times each account's password was submitted in this run (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: dict[str, int] = {}

    def take(self, email: str) -> int:
        """Count one more submission for `email`; BusinessOutcome if it would be one too many."""
        key = email.casefold()
        with self._lock:
            used = self._count.get(key, 0)
            if used >= MAX_PASSWORD_TRIES:
                raise BusinessOutcome(
                    Status.failed,
                    f"not logged in after {used} password submissions in this run; not trying again "
                    "(5 wrong passwords lock the account for an hour): check the stored credentials",
                )
            self._count[key] = used + 1
            return used + 1


class AccountFirstJourney:
    """One attempt of the account-first journey, on a page already at the portal's home."""

    def __init__(self, flow: "RegistrationFlow", page: Page, attempt: _Attempt):
        self.flow = flow
        self.settings = flow.settings
        self.page = page
        self.attempt = attempt
        self.timeout_s = flow.settings.page_timeout_s

    # ---- the journey ---------------------------------------------------------------------------
    def run(self, home: HomePage, entry: JournalEntry | None, personal: PersonalInfoPage | None) -> RegistrationResult:
        supplier = self.attempt.supplier
        checkpoint = entry.checkpoint if entry else Checkpoint.new
        mail_since = entry.mail_since if entry else None

        if checkpoint in _LOG_IN_FROM:
            logger.info(f"resuming at '{checkpoint.value}': logging in")
            return self._log_in_and_structure(checkpoint)
        if checkpoint is Checkpoint.setting_password:
            return self._resume_setting_password(mail_since)
        if checkpoint is Checkpoint.user_account_created and mail_since:
            logger.info("resuming: the account was created, waiting for the activation mail")
            return self._activate(mail_since)
        if checkpoint is Checkpoint.requesting_user_account and mail_since:
            link = self.flow.mailbox.wait_for_link(supplier.email, mail_since, RESUME_MAIL_WAIT_S)
            if link is not None:
                logger.info("resuming: 'Create my account' went through before the interruption")
                self._checkpoint(Checkpoint.user_account_created, mail_since=mail_since)
                return self._activate(mail_since, link=link)

        if personal is None:
            personal = home.create_user_account()
        return self._sign_up(personal, resumed_since=mail_since)

    def _sign_up(self, personal: PersonalInfoPage, resumed_since: datetime | None) -> RegistrationResult:
        """B: the person's details and the captcha, then "Create my account" (C)."""
        supplier = self.attempt.supplier
        self.attempt.enter(PersonalInfoPage.SCREEN)
        personal.fill(supplier.email, supplier.first_name, supplier.last_name, supplier.phone,
                      supplier.notification_email)
        if self.flow.dry_run:
            message = ("dry run: filled the personal information and stopped before the captcha and "
                       "'Create my account'; nothing was created")
            return self.flow._result(self.attempt, Status.pending_activation, message, step=DRY_RUN_STEP)
        self._captcha(personal)
        since = _now()
        self._checkpoint(Checkpoint.requesting_user_account, mail_since=since, step=self.attempt.step)
        try:
            created = personal.create()
        except BusinessOutcome as exc:
            if exc.status is Status.email_in_use and resumed_since is not None:
                logger.info("resuming: the account was created before the interruption")
                self._checkpoint(Checkpoint.user_account_created, mail_since=resumed_since)
                return self._activate(resumed_since)
            raise
        self.attempt.enter(created.SCREEN)
        self._checkpoint(Checkpoint.user_account_created, mail_since=since, step=self.attempt.step)
        if not created.mail_sent_to(supplier.email):
            logger.warning("the summary does not name the login email as the activation mail's recipient")
        logger.info("user account created; waiting for the activation mail")
        return self._activate(since)

    def _captcha(self, personal: PersonalInfoPage) -> None:
        """Have a person answer the captcha (CHORUS_CAPTCHA), at most CAPTCHA_TRIES wrong answers."""
        if not personal.captcha_shown():
            return
        desk = self.flow.captcha_desk
        email = self.attempt.supplier.email
        if desk is None:
            raise BusinessOutcome(
                Status.captcha_required,
                "the portal asks for a captcha and CHORUS_CAPTCHA is none: a person must create this "
                "account, or set CHORUS_CAPTCHA=prompt or command",
                screen=PersonalInfoPage.SCREEN,
            )
        self.attempt.enter("captcha")
        assert self.attempt.recorder is not None
        wrong = new_images = 0
        shown = 0
        while True:
            shown += 1
            image = personal.save_captcha(self.attempt.recorder.dir / f"captcha-{shown}.png")
            answer = desk.answer(image, login_email=email, attempt=wrong + 1, attempts=CAPTCHA_TRIES)
            if answer is None:
                raise BusinessOutcome(Status.captcha_required, "nobody answered the captcha",
                                      screen=PersonalInfoPage.SCREEN)
            if answer == "":
                new_images += 1
                if new_images > CAPTCHA_NEW_IMAGES:
                    raise BusinessOutcome(Status.captcha_required,
                                          f"{CAPTCHA_NEW_IMAGES} other images asked for, and no answer",
                                          screen=PersonalInfoPage.SCREEN)
                logger.info("the person asked for another captcha image")
                personal.another_captcha()
                continue
            registry.add(answer, "captcha")
            with self.attempt.recorder.secret_section(answer):  # the trace records what is typed
                validated = personal.answer_captcha(answer)
            if validated:
                logger.info("captcha validated")
                return
            wrong += 1
            logger.warning(f"the captcha answer was refused ({wrong} of {CAPTCHA_TRIES})")
            if wrong >= CAPTCHA_TRIES:
                raise BusinessOutcome(Status.captcha_required,
                                      f"{CAPTCHA_TRIES} captcha answers refused; a person must create this account",
                                      screen=PersonalInfoPage.SCREEN)

    # ---- D: activation -----------------------------------------------------------------------------
    def _activate(self, since: datetime, link: str | None = None) -> RegistrationResult:
        """The activation mail's link, then the password (D); then the log-in and the structure."""
        timeout = self.settings.activation_timeout_s
        screen = follow_activation_link(self.flow.mailbox, self.attempt, since, timeout,
                                        lambda url: open_account_link(self.page, url, self.timeout_s), link)
        if screen is None:
            return self.flow._result(self.attempt, Status.pending_activation, no_activation_mail(timeout))
        if isinstance(screen, (AccountActivatedPage, ActivatedPage, InvalidLinkPage)):
            return self._after_used_link(screen)
        if isinstance(screen, ActivationPage):
            raise TechnicalFault("the activation link opened the guide's activation form (secret question) "
                                 "in the account-first journey", screen=screen.SCREEN)
        assert isinstance(screen, SetPasswordPage)
        self._set_password(screen)
        return self._log_in_and_structure(Checkpoint.password_set)

    def _after_used_link(self, screen: BasePage) -> RegistrationResult:
        """A link that no longer opens the form: fine when we hold the password it was set with."""
        if self.flow.credentials.get(self.attempt.supplier.siret) is None:
            raise BusinessOutcome(
                Status.failed,
                "the activation link was used, and no password for this account is stored: it was "
                "activated by someone else; ask them for the access",
                screen=screen.SCREEN,
            )
        logger.info("the activation link was used already (by this bot): logging in")
        return self._log_in_and_structure(Checkpoint.password_set)

    def _set_password(self, screen: SetPasswordPage) -> None:
        supplier = self.attempt.supplier
        password = creds.generate_password(supplier.email)
        registry.add(password, "password")
        # Write-ahead: the password is safe before the portal knows it. No secret question in
        # this journey; the store keeps one column for it, empty.
        self.flow.credentials.put(supplier.siret, supplier.email, password, "", "")
        self._checkpoint(Checkpoint.setting_password)
        assert self.attempt.recorder is not None
        with self.attempt.recorder.secret_section(password):
            screen.fill(password)
            screen.submit()
        self._checkpoint(Checkpoint.password_set)
        logger.info("user account activated")

    def _resume_setting_password(self, mail_since: datetime | None) -> RegistrationResult:
        """Killed around "Submit": the link tells whether it went through (used) or not (the form)."""
        logger.info("resuming: was the password set? asking the activation link")
        return self._activate(mail_since or self.attempt.started_at)

    # ---- E to I: log in, then the structure ------------------------------------------------------
    def _log_in_and_structure(self, checkpoint: Checkpoint) -> RegistrationResult:
        landing = self._log_in()
        if isinstance(landing, WorkspacePage):
            # The account has its structure: ours when the areas' Validate was pressed.
            if checkpoint is Checkpoint.creating_structure:
                logger.info("resuming: the structure was created before the interruption")
            else:
                logger.info("the account already has a structure")
            self.attempt.areas = landing.open_areas()
            return self.flow._result(self.attempt, Status.activated,
                                     "account activated; its structure exists (primary manager)")
        return self._structure(landing)

    def _log_in(self) -> "WelcomeDialog | WorkspacePage":
        """E: "Log in" on the identity provider, the mailed one-time code, back to the portal."""
        supplier = self.attempt.supplier
        stored = self.flow.credentials.get(supplier.siret)
        if stored is None:
            raise BusinessOutcome(Status.failed, "no stored password for this account: cannot log in")
        self.attempt.enter(LoginPage.SCREEN)
        home = HomePage(self.page, self.timeout_s).open(self.settings.portal_url + "/")
        login = home.go_to_log_in()
        self._check_login_origin()
        self.flow.password_tries.take(stored.email)
        since = _now()
        assert self.attempt.recorder is not None
        with self.attempt.recorder.secret_section(stored.password):
            landing = login.log_in(stored.email, stored.password, WelcomeDialog, WorkspacePage)
        if isinstance(landing, VerificationPage):
            self.attempt.enter(VerificationPage.SCREEN)
            wait = min(self.settings.activation_timeout_s, CODE_VALIDITY_S)
            code = self.flow.mailbox.wait_for_code(stored.email, since, wait)
            if code is None:
                raise TechnicalFault(f"no verification-code mail within {wait:g} s", screen=VerificationPage.SCREEN)
            registry.add(code, "one-time code")
            with self.attempt.recorder.secret_section(code):
                landing = landing.submit(code, WelcomeDialog, WorkspacePage)
        self._checkpoint(Checkpoint.logged_in)
        logger.info("logged in")
        return landing  # type: ignore[return-value]

    def _check_login_origin(self) -> None:
        """The password goes only to the portal's origin or the configured identity provider's."""
        here = _origin(self.page.url)
        trusted = {_origin(url) for url in (self.settings.portal_url, self.settings.idp_url) if url}
        if here not in trusted:
            host = urlsplit(self.page.url).hostname or "?"
            raise BusinessOutcome(
                Status.failed,
                f"the log-in form is on {host}, which is neither CHORUS_PORTAL_URL nor CHORUS_IDP_URL: "
                "no password typed (set CHORUS_IDP_URL to the portal's identity provider)",
                screen=LoginPage.SCREEN,
            )

    def _structure(self, welcome: WelcomeDialog) -> RegistrationResult:
        """F to I: "Create a new structure", SIRET and "Search", the INSEE check, work areas."""
        supplier = self.attempt.supplier
        self.attempt.enter(WelcomeDialog.SCREEN)
        search = welcome.create_structure()
        self.attempt.enter(search.SCREEN)
        found = search.search(supplier.siret, self.settings.autofill_timeout_s)
        if isinstance(found, StructureExistsPage):
            return self.flow._structure_exists(found, self.attempt)
        assert isinstance(found, StructureDetailsPage)
        self.attempt.enter(found.SCREEN)
        check_insee(found, self.attempt, self.settings)
        missing = found.missing_required()
        if missing:
            raise BusinessOutcome(
                Status.invalid_input,
                f"structure: required field(s) still empty, not submitted: {', '.join(missing)}",
                screen=found.SCREEN,
            )
        areas = found.validate()
        self.attempt.enter(StructureAreasPage.SCREEN)
        self.flow._choose_areas(areas, self.attempt)
        self._checkpoint(Checkpoint.creating_structure, step=self.attempt.step)
        done = areas.validate()
        self.attempt.enter(done.SCREEN)
        logger.info("structure created; the account is its primary manager")
        return self.flow._result(self.attempt, Status.activated,
                                 "account activated; structure created, primary manager")

    # ---- bookkeeping -------------------------------------------------------------------------------
    def _checkpoint(self, checkpoint: Checkpoint, **fields) -> None:
        self.flow._checkpoint(self.attempt.supplier, checkpoint, **fields)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port
