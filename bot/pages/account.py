"""Step 1 of sign-up: the login email and the SIRET."""
from __future__ import annotations

from playwright.sync_api import Locator

from bot import labels as L
from bot.errors import BusinessOutcome
from bot.models import Status
from bot.pages.base import BasePage


class AccountPage(BasePage):
    """`/account/new`: "Login email", "Company registration number (SIRET)", "Validate"."""

    SCREEN = "step 1 (account)"

    def landmark(self) -> Locator:
        return self.field(L.STEP1_SIRET)

    def captcha_shown(self) -> bool:
        return self.field(L.CAPTCHA_FIELD).is_visible()

    def fill(self, email: str, siret: str) -> "AccountPage":
        """Type the login email and SIRET; a captcha stops here (the bot does not solve them)."""
        if self.captcha_shown():
            raise BusinessOutcome(
                Status.captcha_required,
                "the portal shows a captcha at sign-up; a person must complete step 1",
                screen=self.SCREEN,
            )
        self.field(L.STEP1_EMAIL).fill(email)
        self.field(L.STEP1_SIRET).fill(siret)
        return self

    def submit(self, email: str, siret: str):
        """Fill and press "Validate"; return the next screen's page object.

        StructurePage (step 2) or StructureExistsPage; the portal's refusals become
        BusinessOutcome (invalid SIRET, email in use...) through the error alert.
        """
        from bot.pages.structure import StructurePage
        from bot.pages.structure_exists import StructureExistsPage

        self.fill(email, siret)
        self.press(self.button(L.VALIDATE), L.VALIDATE)
        step2 = StructurePage(self.page, self.timeout_s)
        exists = StructureExistsPage(self.page, self.timeout_s)
        got = self.wait_for_any({"step2": step2.landmark(), "exists": exists.landmark()})
        return step2 if got == "step2" else exists
