"""Step 4 of sign-up: "Your account is created"."""
from __future__ import annotations

from playwright.sync_api import Locator

from bot import labels as L
from bot.pages.base import BasePage


class CreatedPage(BasePage):
    """`/account/created`: the activation mail was sent; maybe "you are the primary manager"."""

    SCREEN = "step 4 (account created)"

    def landmark(self) -> Locator:
        return self.heading(L.CREATED_HEADING)

    def is_primary_manager(self) -> bool:
        return self.page.get_by_text(L.CREATED_PRIMARY_MANAGER).is_visible()

    def mail_sent_to(self, email: str) -> bool:
        """True when the page says the activation mail went to `email`."""
        return self.page.get_by_text(f"{L.CREATED_MAIL_SENT} {email}").first.is_visible()
