"""Step 1 of sign-up: the login email and the SIRET."""
from __future__ import annotations

from bot import labels as L
from bot.errors import BusinessOutcome
from bot.models import Status
from bot.pages.base import BasePage
from bot.pages.elements import Element, Role
from bot.pages.structure import StructurePage
from bot.pages.structure_exists import StructureExistsPage


class AccountPage(BasePage):
    """`/account/new`: "Login email", "Company registration number (SIRET)", "Validate"."""

    SCREEN = "step 1 (account)"
    EMAIL = Element(Role.field, L.LOGIN_EMAIL)
    SIRET = Element(Role.field, L.STEP1_SIRET)
    VALIDATE = Element(Role.button, L.VALIDATE)
    CAPTCHA = Element(Role.field, L.CAPTCHA_FIELD)
    REQUIRED = (EMAIL, SIRET, VALIDATE)

    def fill(self, email: str, siret: str) -> "AccountPage":
        """Type the login email and SIRET; a captcha stops here (the bot does not solve them)."""
        if self.shows(self.CAPTCHA):
            raise BusinessOutcome(
                Status.captcha_required,
                "the portal shows a captcha at sign-up; a person must complete step 1",
                screen=self.SCREEN,
            )
        self.find(self.EMAIL).fill(email)
        self.find(self.SIRET).fill(siret)
        return self

    def submit(self, email: str, siret: str) -> "StructurePage | StructureExistsPage":
        """Fill and press "Validate"; return the next screen's page object.

        StructurePage (step 2) or StructureExistsPage; the portal's refusals become
        BusinessOutcome (invalid SIRET, email in use...) through the error alert.
        """
        self.fill(email, siret)
        return self.press(self.VALIDATE, StructurePage, StructureExistsPage)
