"""The activation screens reached from the mail's link.

Activation form, success page, expired link (with "Send a new activation email") and an
invalid (used or superseded) link. `open_link` says which one the link led to.
"""
from __future__ import annotations

from playwright.sync_api import Locator, Page

from bot import labels as L
from bot.pages.base import BasePage


class ActivationPage(BasePage):
    """`/account/activate?token=…`: password, confirmation, secret question and answer."""

    SCREEN = "activation"

    def landmark(self) -> Locator:
        # The heading is shared with the expired/invalid link pages: the form's own field is not.
        return self.field(L.ACTIVATE_CONFIRM)

    def fill(self, password: str, question: str, answer: str) -> "ActivationPage":
        """Type the secrets (call inside the trace recorder's secret section)."""
        self.field(L.ACTIVATE_PASSWORD).fill(password)
        self.field(L.ACTIVATE_CONFIRM).fill(password)
        self.field(L.ACTIVATE_QUESTION).select_option(label=question)
        self.field(L.ACTIVATE_ANSWER).fill(answer)
        return self

    def questions(self) -> list[str]:
        """The secret questions the portal offers (the select's option labels)."""
        texts = self.field(L.ACTIVATE_QUESTION).locator("option").all_inner_texts()
        return [t.strip() for t in texts if t.strip()]

    def validate(self) -> "ActivatedPage":
        """Press "Validate"; return the success page or raise what the portal said."""
        self.press(self.button(L.VALIDATE), L.VALIDATE)
        done = ActivatedPage(self.page, self.timeout_s)
        self.wait_for_any({"activated": done.landmark()})
        return done


class ActivatedPage(BasePage):
    """`/account/activated`: "Your account has been activated, …"."""

    SCREEN = "account activated"

    def landmark(self) -> Locator:
        return self.page.get_by_text(L.ACTIVATED)


class ExpiredLinkPage(BasePage):
    """"This activation link has expired." with a button to ask for a new mail."""

    SCREEN = "expired activation link"

    def landmark(self) -> Locator:
        return self.page.get_by_text(L.LINK_EXPIRED)

    def send_new_mail(self) -> None:
        """Press "Send a new activation email" and wait until the portal took it."""
        self.press(self.button(L.SEND_NEW_MAIL), L.SEND_NEW_MAIL)
        self.wait_for_any({"sent": self.page.get_by_text(L.NEW_MAIL_SENT)})


class InvalidLinkPage(BasePage):
    """"This activation link is not valid." (used, unknown, or superseded by a newer mail)."""

    SCREEN = "invalid activation link"

    def landmark(self) -> Locator:
        return self.page.get_by_text(L.LINK_INVALID)


def open_link(page: Page, link: str, timeout_s: float) -> BasePage:
    """Open the activation link; return the page object of the screen it shows."""
    page.goto(link, wait_until="domcontentloaded")
    screens = [
        ActivationPage(page, timeout_s),
        ExpiredLinkPage(page, timeout_s),
        InvalidLinkPage(page, timeout_s),
        ActivatedPage(page, timeout_s),
    ]
    got = screens[0].wait_for_any({s.SCREEN: s.landmark() for s in screens})
    return next(s for s in screens if s.SCREEN == got)
