"""What the sandbox tests share: walking the portal as a person would, and reading the mailbox.

A person opens the portal (in French), clicks "EN", answers the cookie banner, types into
fields found by their visible labels and reads the activation mail in their mailbox. The
helpers below do just that, in real Chromium and over IMAP with TLS (the run's CA file), so
each test can start at the screen it is about. No bot code is used here (`bot.pages`,
`bot.flows`): these tests check the portal itself against shared/spec/portal.md.
"""
from __future__ import annotations

import html
import re
import ssl
import time
from dataclasses import dataclass

from imap_tools import AND, MailBox
from playwright.sync_api import Page, expect

from fixtures.portal.server import SHARED_MAILBOX, Sandbox

# fixtures/insee/CATALOGUE.md
BOULANGERIE = "80743987200019"  # active, diffusible: Boulangerie Dupré SARL, 12 RUE DES LILAS, 69003 LYON
NETTOYAGE = "70918328900012"  # active, diffusible, with an address complement (BATIMENT B)
NON_DIFFUSIBLE = "12634976000010"  # Conseil Discret Laurent SAS
CLOSED = "83759232800012"  # Ancienne Forge Dubois SARL
EXISTING = "43749388500010"  # Société Existante Dumont SAS, registered (seed), manager@existing.example
EXISTING_MANAGER = "manager@existing.example"
UNKNOWN = "15543407900010"  # Luhn-valid, no INSEE file
BAD_CHECKSUM = "15543407900011"

MAIL_FROM = "choruspro.notification.aife@finances.gouv.fr"
SUBJECT_EN = "Chorus Pro - Activate your account"
SUBJECT_FR = "Chorus Pro - Activation de votre compte"
SUBJECT_OTP = "Chorus Pro - Your verification code"
# A test password that meets the rules (12-64 chars, upper, lower, digit, special); never logged.
PASSWORD = "Tulipe-Verte-2024!"
ANSWER = "Rex le chien"
QUESTION = "What is the name of your first pet?"
MAIL_TIMEOUT_S = 20.0

ANCHOR = re.compile(r'<a href="([^"]+)"[^>]*>([^<]+)</a>')


@dataclass(frozen=True)
class Person:
    """What a supplier types at step 2."""

    first_name: str = "Camille"
    last_name: str = "Dupré"
    phone: str = "+33 4 72 00 00 00"
    job_title: str = "Gérante"


# --- the browser ---------------------------------------------------------------------------------
def open_english(page: Page, path: str = "/") -> None:
    """Open `path` as a first-time visitor, switch to English and accept the cookies."""
    page.goto(path)
    page.get_by_role("link", name="EN", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("button", name="Accept all").click()
    expect(page.locator("#cookie-banner")).to_have_count(0)


def press(page: Page, button: str = "Validate") -> None:
    """Press a button that posts a form and wait for the new page, even when it looks like the old one.

    A form that fails twice with the same message renders the same page again: marking the old
    document lets the test wait for the new one instead of checking the old one by mistake.
    """
    page.evaluate("document.documentElement.dataset.replaced = 'no'")
    page.get_by_role("button", name=button).click()
    expect(page.locator("html[data-replaced]")).to_have_count(0)


def submit_step1(page: Page, email: str, siret: str) -> None:
    """Fill step 1 (already open, in English) and press Validate."""
    page.get_by_label("Login email").fill(email)
    page.get_by_label("Company registration number (SIRET)").fill(siret)
    press(page)


def to_step2(page: Page, email: str, siret: str = BOULANGERIE) -> None:
    """From a fresh browser to step 2 with the INSEE autofill finished."""
    open_english(page, "/account/new")
    submit_step1(page, email, siret)
    expect(page.get_by_role("heading", name="Your structure")).to_be_visible()
    expect(page.locator("#structure-form")).to_have_attribute("data-autofill", "done")


def fill_person(page: Page, person: Person = Person()) -> None:
    page.get_by_label("First name").fill(person.first_name)
    page.get_by_label("Last name").fill(person.last_name)
    page.get_by_label("Phone number").fill(person.phone)
    page.get_by_label("Job title").fill(person.job_title)
    page.get_by_label("I accept the terms of use").check()


def to_step3(page: Page, email: str, siret: str = BOULANGERIE) -> None:
    to_step2(page, email, siret)
    fill_person(page)
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="Open your working areas")).to_be_visible()


def create_account(page: Page, email: str, siret: str = BOULANGERIE) -> None:
    """Steps 1 to 3 with the default areas: ends on step 4 (the activation mail is on its way)."""
    to_step3(page, email, siret)
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="Your account is created")).to_be_visible()


def activate(page: Page, link: str, password: str = PASSWORD) -> None:
    """Open the activation link and set password and secret question; ends on the activated page."""
    page.goto(link)
    expect(page.get_by_role("heading", name="Activate your user account")).to_be_visible()
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)
    page.get_by_label("Secret question").select_option(label=QUESTION)
    page.get_by_label("Answer").fill(ANSWER)
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_text("Your account has been activated, you can now issue invoices to your "
                            "public client.")).to_be_visible()


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Fill the home page's "Log in" box (the page must be open, in English) and press Log in."""
    box = page.locator("form[action='/login']")
    box.get_by_label("Login email").fill(email)
    box.get_by_label("Password").fill(password)
    box.get_by_role("button", name="Log in").click()


# --- the mailbox ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mail:
    from_: str
    subject: str
    text: str
    html: str
    content_type: str
    source: str  # the message as stored, bodies still quoted-printable

    def link(self, anchor: str = "Activate my account") -> str:
        """The URL of the HTML anchor `anchor` (as a person clicks it)."""
        for href, label in ANCHOR.findall(self.html):
            if label.strip() == anchor:
                return html.unescape(href)
        raise AssertionError(f"no '{anchor}' link in the mail '{self.subject}'")


def read_mails(sandbox: Sandbox, to: str, count: int = 1, timeout_s: float = MAIL_TIMEOUT_S) -> list[Mail]:
    """The mails addressed to `to` in the shared mailbox, oldest first, once at least `count` are there.

    Opens the sandbox's Dovecot over implicit TLS, verified against the run's CA file, and waits
    with IMAP IDLE (short rounds, bounded by `timeout_s`) rather than sleeping.
    """
    context = ssl.create_default_context(cafile=str(sandbox.mail.ca_file))
    deadline = time.monotonic() + timeout_s
    with MailBox(sandbox.mail.host, port=sandbox.mail.imaps_port, ssl_context=context).login(
            SHARED_MAILBOX, sandbox.mail.password) as box:
        while True:
            found = [Mail(m.from_, m.subject, m.text, m.html, m.obj.get_content_type(), m.obj.as_string())
                     for m in box.fetch(AND(to=to), mark_seen=False)]
            if len(found) >= count:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(found)} mail(s) for {to} within {timeout_s:.0f}s, expected {count}")
            box.idle.wait(timeout=min(1.0, left))


def activation_link(sandbox: Sandbox, to: str, count: int = 1) -> str:
    """The link of the newest of `count` activation mails sent to `to`."""
    return read_mails(sandbox, to, count)[-1].link()


# --- the test API --------------------------------------------------------------------------------
def account_of(state: dict, email: str) -> dict:
    matches = [a for a in state["accounts"] if a["email"] == email]
    assert len(matches) == 1, f"{len(matches)} account(s) for {email}"
    return matches[0]


def has_account(state: dict, email: str) -> bool:
    return any(a["email"] == email for a in state["accounts"])


def mails_to(state: dict, email: str) -> list[dict]:
    return [m for m in state["mails"] if m["to"] == email]
