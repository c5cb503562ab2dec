"""The activation screens reached from the mail's link.

Activation form, success page, expired link (with "Send a new activation email") and an
invalid (used or superseded) link. `open_link` says which one the link led to.
"""
from __future__ import annotations

import secrets

from playwright.sync_api import Page

from bot import labels as L
from bot.pages.base import BasePage, await_screen
from bot.pages.elements import Element, Role


class ActivationPage(BasePage):
    """`/account/activate?token=…`: password, confirmation, secret question and answer."""

    SCREEN = "activation"
    PASSWORD = Element(Role.field, L.PASSWORD)
    CONFIRM = Element(Role.field, L.CONFIRM_PASSWORD)
    QUESTION = Element(Role.field, L.SECRET_QUESTION)
    ANSWER = Element(Role.field, L.ANSWER)
    VALIDATE = Element(Role.button, L.VALIDATE)
    REQUIRED = (PASSWORD, CONFIRM, QUESTION, ANSWER, VALIDATE)

    def fill(self, password: str, question: str, answer: str) -> "ActivationPage":
        """Type the secrets (call inside the trace recorder's secret section)."""
        self.find(self.PASSWORD).fill(password)
        self.find(self.CONFIRM).fill(password)
        self.find(self.QUESTION).select_option(label=question)
        self.find(self.ANSWER).fill(answer)
        return self

    def questions(self) -> list[str]:
        """The secret questions the portal offers (the select's option labels, less a placeholder)."""
        texts = self.find(self.QUESTION).locator('option:not([value=""])').all_inner_texts()
        return [t.strip() for t in texts if t.strip()]

    def pick_question(self, preferred: str) -> str:
        """The offered question to use, as the portal words it (in its language).

        `preferred` (a catalogue question, in English) when the portal offers it in any
        known wording; else another offered question the catalogue knows; else the first.
        """
        offered = self.questions()
        wording = next((w for w in L.SECRET_QUESTION_OPTIONS if w.matches(preferred)), None)
        same = [q for q in offered if wording is not None and wording.matches(q)]
        if same:
            return same[0]
        known = [q for q in offered if any(w.matches(q) for w in L.SECRET_QUESTION_OPTIONS)]
        if known:
            return secrets.choice(known)
        return offered[0] if offered else preferred

    def validate(self) -> "ActivatedPage":
        """Press "Validate"; return the success page or raise what the portal said."""
        return self.press(self.VALIDATE, ActivatedPage)


class ActivatedPage(BasePage):
    """`/account/activated`: "Your account has been activated, …"."""

    SCREEN = "account activated"
    REQUIRED = (Element(Role.text, L.ACTIVATED),)


class ExpiredLinkPage(BasePage):
    """"This activation link has expired." with a button to ask for a new mail."""

    SCREEN = "expired activation link"
    SEND_NEW_MAIL = Element(Role.button, L.SEND_NEW_MAIL)
    REQUIRED = (Element(Role.text, L.LINK_EXPIRED), SEND_NEW_MAIL)

    def send_new_mail(self) -> None:
        """Press "Send a new activation email" and wait until the portal took it."""
        self.press(self.SEND_NEW_MAIL, NewMailSentPage)


class NewMailSentPage(BasePage):
    """The portal's receipt for "Send a new activation email"."""

    SCREEN = "new activation email sent"
    REQUIRED = (Element(Role.text, L.NEW_MAIL_SENT),)


class InvalidLinkPage(BasePage):
    """"This activation link is not valid." (used, unknown, or superseded by a newer mail)."""

    SCREEN = "invalid activation link"
    REQUIRED = (Element(Role.text, L.LINK_INVALID),)


def open_link(page: Page, link: str, timeout_s: float) -> BasePage:
    """Open the activation link; return the page object of the screen it shows."""
    page.goto(link, wait_until="domcontentloaded")
    screens = [cls(page, timeout_s) for cls in (ActivationPage, ExpiredLinkPage, InvalidLinkPage, ActivatedPage)]
    return await_screen(page, screens, timeout_s)
