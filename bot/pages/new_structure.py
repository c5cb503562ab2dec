"""The account-first journey after the first log-in (portal.md, sections F to I): the
welcome dialog, the structure found by its identifier with "Search", its work areas, done.

F to I swap the page's content in place (no page load): every transition waits on what
the next screen holds, never on a navigation."""
from __future__ import annotations

from playwright.sync_api import Error as PlaywrightError

from bot import labels as L
from bot.errors import TechnicalFault
from bot.pages.base import BasePage, await_screen, raise_for_messages
from bot.pages.elements import Element, Role
from bot.pages.structure import COMPANY_FIELDS, StructurePage
from bot.pages.structure_exists import StructureExistsPage
from bot.pages.work_areas import WorkAreasPage


class WelcomeDialog(BasePage):
    """F: the first log-in's dialog: "Create a new structure" or "Join an existing structure"."""

    SCREEN = "first log-in"
    CREATE = Element(Role.control, L.CREATE_STRUCTURE)
    JOIN = Element(Role.control, L.JOIN_STRUCTURE)
    REQUIRED = (CREATE, JOIN)

    def create_structure(self) -> "NewStructurePage":
        return self.press(self.CREATE, NewStructurePage)


class NewStructurePage(BasePage):
    """G, before "Search": the identifier's type and value."""

    SCREEN = "structure (search)"
    IDENTIFIER_TYPE = Element(Role.field, L.IDENTIFIER_TYPE)
    IDENTIFIER = Element(Role.field, L.IDENTIFIER)
    SEARCH = Element(Role.button, L.SEARCH)
    REQUIRED = (IDENTIFIER_TYPE, IDENTIFIER, SEARCH)

    def search(self, siret: str, timeout_s: float) -> "StructureDetailsPage | StructureExistsPage":
        """Choose SIRET, type it, press "Search" and wait (up to `timeout_s`) for INSEE's answer.

        The structure's fields, filled from INSEE; or "already exists"; or the portal's
        refusal (unknown, closed SIRET...) as a BusinessOutcome."""
        self._choose_siret_type()
        self.find(self.IDENTIFIER).fill(siret)
        self.find(self.SEARCH).first.click()
        busy = self.page.locator('[aria-busy="true"]').filter(visible=True)
        try:
            busy.first.wait_for(state="detached", timeout=timeout_s * 1000)
        except PlaywrightError:
            raise_for_messages(self.page, self.SCREEN)
            raise TechnicalFault(f"{self.SCREEN}: INSEE's answer did not come within {timeout_s:g} s",
                                 screen=self.SCREEN) from None
        raise_for_messages(self.page, self.SCREEN)
        screens = [StructureDetailsPage(self.page, self.timeout_s), StructureExistsPage(self.page, self.timeout_s)]
        return await_screen(self.page, screens, self.timeout_s, origin=self.SCREEN)

    def _choose_siret_type(self) -> None:
        select = self.find(self.IDENTIFIER_TYPE).first
        siret = L.IDENTIFIER_TYPES[0]
        for option in select.locator("option").all():
            text = (option.inner_text() or "").strip()
            if text and siret.matches(text):
                select.select_option(value=option.get_attribute("value") or text)
                return
        raise TechnicalFault(f"{self.SCREEN}: the identifier types offer no 'SIRET'", screen=self.SCREEN)


class StructureDetailsPage(NewStructurePage):
    """G, after "Search": the company's fields (from INSEE), "INSEE not diffusible", "Validate"."""

    SCREEN = "structure"
    NON_DIFFUSIBLE = Element(Role.checkbox, L.NON_DIFFUSIBLE)
    VALIDATE = Element(Role.button, L.VALIDATE)
    REQUIRED = (NewStructurePage.IDENTIFIER, COMPANY_FIELDS["company_name"], NON_DIFFUSIBLE, VALIDATE)

    # the INSEE check reads and corrects these as on the guide's step 2
    read_company = StructurePage.read_company
    address_masked = staticmethod(StructurePage.address_masked)
    fill_company = StructurePage.fill_company
    missing_required = StructurePage.missing_required
    set_non_diffusible = StructurePage.set_non_diffusible

    def validate(self) -> "StructureAreasPage":
        return self.press(self.VALIDATE, StructureAreasPage)


class StructureAreasPage(WorkAreasPage):
    """H: "Working areas of the structure", the guide's switches (French names), "Validate"."""

    SCREEN = "structure work areas"

    def validate(self) -> "StructureCreatedPage":  # type: ignore[override]
        """Press "Validate": the structure is created, its primary manager the logged-in account."""
        return self.press(self.VALIDATE, StructureCreatedPage)


class StructureCreatedPage(BasePage):
    """I: "Your structure has been created. You are its primary manager."."""

    SCREEN = "structure created"
    REQUIRED = (Element(Role.text, L.STRUCTURE_CREATED),)
