"""Helpers of the registration tests: settings from `bot_env`, a `Runner` that runs the real
flow in-process (real Chromium from pytest-playwright's session browser, the real sandbox,
the real Dovecot over IMAP with TLS), and readers of the sandbox's state."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from playwright.sync_api import Browser, BrowserContext

from bot.credentials import CredentialStore
from bot.flows.registration import RegistrationFlow, register_with_retries
from bot.journal import Journal
from bot.mail import ActivationMailbox
from bot.models import RegistrationResult, Supplier
from bot.pages.home import HomePage
from bot.pages.login import LoginPage, WorkspacePage
from bot.settings import Settings, fields_from_env

# Active, diffusible SIRETs of fixtures/insee/CATALOGUE.md (the sandbox is reset before each test).
SIRET = "80743987200019"  # Boulangerie Dupré SARL, 12 RUE DES LILAS, 69003 LYON
NON_DIFFUSIBLE = "12634976000010"
CLOSED = "83759232800012"
UNKNOWN = "15543407900010"
BAD_CHECKSUM = "15543407900011"
EXISTING = "43749388500010"
CEA = "77568501900306"
SEED_MANAGER = "manager@existing.example"


CHORUS_BOT = str(Path(sys.executable).with_name("chorus-bot"))


def chorus_bot(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the `chorus-bot` command as a user runs it: a real process, the given CHORUS_* settings."""
    return subprocess.run(
        [CHORUS_BOT, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )


def settings_from(env: dict[str, str], **overrides: Any) -> Settings:
    """Settings as the bot would read them from `env` (a local .env is ignored)."""
    values = fields_from_env(env)
    values.update(overrides)
    return Settings(_env_file=None, **values)


def supplier(email: str, siret: str = SIRET, **fields: Any) -> Supplier:
    return Supplier(
        siret=siret,
        email=email,
        first_name=fields.pop("first_name", "Claire"),
        last_name=fields.pop("last_name", "Dupré"),
        phone=fields.pop("phone", "+33 4 72 00 00 00"),
        **fields,
    )


@dataclass
class Runner:
    """Runs the registration flow in-process and keeps what a test inspects afterwards."""

    browser: Browser
    env: dict[str, str]
    run_id: str = "test-run"
    contexts_opened: int = 0
    settings: Settings | None = None
    journal: Journal | None = None
    store: CredentialStore | None = None
    _close: list[Callable[[], None]] = field(default_factory=list)

    def new_context(self) -> BrowserContext:
        self.contexts_opened += 1
        return self.browser.new_context(locale="fr-FR")

    def flow(self, *, dry_run: bool = False, mailbox: Any = None, **overrides: Any) -> RegistrationFlow:
        overrides.setdefault("retry_backoff_s", 0)
        self.settings = settings_from(self.env, **overrides)
        self.journal = self.journal or Journal(self.settings.state_db)
        self.store = self.store or CredentialStore(self.settings.state_db, self.settings.secret_key)
        if mailbox is None:
            mailbox = ActivationMailbox(self.settings, self.settings.portal_url)
            self._close.append(mailbox.close)
        return RegistrationFlow(
            self.settings, self.new_context, mailbox, self.journal, self.store, self.run_id, dry_run=dry_run
        )

    def register(
        self, who: Supplier, *, dry_run: bool = False, mailbox: Any = None, **overrides: Any
    ) -> RegistrationResult:
        flow = self.flow(dry_run=dry_run, mailbox=mailbox, **overrides)
        return register_with_retries(flow, who, flow.settings)

    def close(self) -> None:
        for close in self._close:
            close()
        if self.journal is not None:
            self.journal.close()


class ExpireFirstLink:
    """The real mailbox, with the portal's token lifetime cut while the first link is in hand.

    The first link the bot receives is thus expired when it opens it; before the bot waits
    for the second mail, the lifetime is restored, so the new link works. Everything else
    (the one-time code of the account-first journey) goes to the real mailbox untouched.
    """

    def __init__(self, mailbox: ActivationMailbox, portal: Any) -> None:
        self.mailbox, self.portal, self.calls = mailbox, portal, 0

    def wait_for_link(self, email: str, since: datetime, timeout_s: float) -> str | None:
        self.calls += 1
        if self.calls == 2:
            self.portal.knobs(token_ttl_s=3600)
        link = self.mailbox.wait_for_link(email, since, timeout_s)
        if self.calls == 1:
            self.portal.knobs(token_ttl_s=0.001)
        return link

    def __getattr__(self, name: str) -> Any:
        return getattr(self.mailbox, name)


def log_in(browser: Browser, url: str, email: str, password: str) -> WorkspacePage:
    """Log in as a person would, with the page objects (English, cookies answered)."""
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    HomePage(page).open(url + "/").switch_to_english().accept_cookies()
    workspace = LoginPage(page).assert_arrived().log_in(email, password)
    assert isinstance(workspace, WorkspacePage)
    return workspace


def account(portal, email: str) -> dict | None:
    """The sandbox's account of `email`, or None."""
    return next((a for a in portal.state()["accounts"] if a["email"].lower() == email.lower()), None)


def mails_to(portal, email: str, kind: str | None = None) -> list[dict]:
    return [
        m for m in portal.state()["mails"] if m["to"].lower() == email.lower() and (kind is None or m["kind"] == kind)
    ]
