"""The "This structure already exists in Chorus Pro" screen (after step 1)."""
from __future__ import annotations

import re

from bot import labels as L
from bot.pages.base import BasePage
from bot.pages.elements import Element, Role

_MASKED_EMAIL = re.compile(r"[\w.+*-]*\*[\w.+*-]*@[\w.*-]+")


class StructureExistsPage(BasePage):
    """Shows the primary manager's masked email and "Request to join this structure"."""

    SCREEN = "structure already exists"
    JOIN = Element(Role.control, L.EXISTS_JOIN)
    REQUIRED = (JOIN,)

    def manager_hint(self) -> str | None:
        """The primary manager's masked email as shown (e.g. "j***@example.fr"), if any."""
        match = _MASKED_EMAIL.search(self.page.inner_text("body"))
        return match.group(0) if match else None

    def request_to_join(self) -> None:
        """Press "Request to join this structure" and wait for the portal to take it."""
        self.press(self.JOIN, JoinSentPage)


class JoinSentPage(BasePage):
    """The portal's receipt for a join request."""

    SCREEN = "join request sent"
    REQUIRED = (Element(Role.text, L.JOIN_SENT),)
