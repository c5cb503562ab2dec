"""Step 4 of sign-up: "Your account is created"."""
from __future__ import annotations

import re

from bot import labels as L
from bot.pages.base import BasePage
from bot.pages.elements import Element, Role


class CreatedPage(BasePage):
    """`/account/created`: the activation mail was sent; maybe "you are the primary manager"."""

    SCREEN = "step 4 (account created)"
    MAIL_SENT = Element(Role.text, L.CREATED_MAIL_SENT)
    PRIMARY_MANAGER = Element(Role.text, L.CREATED_PRIMARY_MANAGER)
    REQUIRED = (MAIL_SENT,)

    def is_primary_manager(self) -> bool:
        return self.shows(self.PRIMARY_MANAGER)

    def mail_sent_to(self, email: str) -> bool:
        """True when the page says the activation mail went to `email`."""
        sentence = re.compile(rf"{L.CREATED_MAIL_SENT.search().pattern}\s*{re.escape(email)}", re.IGNORECASE)
        return self.page.get_by_text(sentence).filter(visible=True).count() > 0
