"""The account-first journey's activation (portal.md, section D): the mail's link opens a
form with the password and its confirmation only (no secret question), then "Your account
is activated" with a way to log in. Expired and used links are the guide's screens."""
from __future__ import annotations

from playwright.sync_api import Page

from bot import labels as L
from bot.pages.activation import ActivatedPage, ActivationPage, ExpiredLinkPage, InvalidLinkPage
from bot.pages.base import BasePage, await_screen
from bot.pages.elements import Element, Role


class SetPasswordPage(BasePage):
    """"Password", "Confirm password", "Submit"."""

    SCREEN = "set password"
    PASSWORD = Element(Role.field, L.PASSWORD)
    CONFIRM = Element(Role.field, L.CONFIRM_PASSWORD)
    SUBMIT = Element(Role.button, L.SUBMIT)
    REQUIRED = (PASSWORD, CONFIRM, SUBMIT)

    def fill(self, password: str) -> "SetPasswordPage":
        """Type the password twice (call inside the trace recorder's secret section)."""
        self.find(self.PASSWORD).fill(password)
        self.find(self.CONFIRM).fill(password)
        return self

    def submit(self) -> "AccountActivatedPage":
        return self.press(self.SUBMIT, AccountActivatedPage)


class AccountActivatedPage(BasePage):
    """"Your account is activated", and "Log in"."""

    SCREEN = "account activated"
    ACTIVATED = Element(Role.text, L.ACCOUNT_ACTIVATED)
    REQUIRED = (ACTIVATED,)


def open_account_link(page: Page, link: str, timeout_s: float) -> BasePage:
    """Open an activation link; the page object of the screen it shows (either journey's form)."""
    page.goto(link, wait_until="domcontentloaded")
    kinds = (SetPasswordPage, ActivationPage, ExpiredLinkPage, InvalidLinkPage, AccountActivatedPage, ActivatedPage)
    return await_screen(page, [cls(page, timeout_s) for cls in kinds], timeout_s)
