"""The home page: language switch, cookie banner, the way into sign-up and the log-in box."""
from __future__ import annotations

from playwright.sync_api import Locator

from bot import labels as L
from bot.pages.base import BasePage


class HomePage(BasePage):
    """`/`: French by default; the header's "EN" link gives the English version."""

    SCREEN = "home"

    def landmark(self) -> Locator:
        # Language-independent: the header's switch shows on every page in both languages.
        return self.page.get_by_role("link", name=L.LANG_EN, exact=True)

    def english_landmark(self) -> Locator:
        return self.page.get_by_role("link", name=L.HOME_CREATE_ACCOUNT, exact=True)

    def open(self, url: str) -> "HomePage":
        """Load the home page and check it is the home page (or a portal fault)."""
        self.page.goto(url, wait_until="domcontentloaded")
        self.assert_arrived()
        return self

    def switch_to_english(self) -> "HomePage":
        """Click "EN" (the supplier guide: "Access the website Chorus Pro in english version")."""
        if not self.english_landmark().is_visible():
            self.press(self.landmark().first, L.LANG_EN)
        self.wait_for_any({"english": self.english_landmark()})
        return self

    def accept_cookies(self) -> "HomePage":
        """Answer the cookie banner with "Accept all", only if it shows (first visit)."""
        accept = self.button(L.COOKIES_ACCEPT)
        if accept.is_visible():
            self.press(accept, L.COOKIES_ACCEPT)
            accept.wait_for(state="hidden", timeout=self.timeout_ms)
        return self

    def create_account(self):
        """Follow "Create an account" to step 1."""
        from bot.pages.account import AccountPage

        self.press(self.english_landmark(), L.HOME_CREATE_ACCOUNT)
        return AccountPage(self.page, self.timeout_s).assert_arrived()
