"""Step 3 of sign-up: "Open your working areas", one switch per area."""
from __future__ import annotations

from playwright.sync_api import Locator, expect

from bot import labels as L
from bot.errors import TechnicalFault
from bot.models import ALL_AREAS
from bot.pages.base import BasePage


class WorkAreasPage(BasePage):
    """`/account/work-areas`: switches (`role="switch"`, `aria-checked`) and "Validate"."""

    SCREEN = "step 3 (work areas)"

    def landmark(self) -> Locator:
        return self.heading(L.WORK_AREAS_HEADING)

    def switch(self, name: str) -> Locator:
        return self.page.get_by_role("switch", name=name, exact=True)

    def area_state(self, name: str) -> bool:
        """True when the area's switch is on."""
        loc = self.switch(name)
        if not loc.count():
            raise TechnicalFault(f"{self.SCREEN}: no work area named '{name}'", screen=self.SCREEN)
        return loc.get_attribute("aria-checked") == "true"

    def open_areas(self, names: list[str] | tuple[str, ...]) -> "WorkAreasPage":
        """Switch on each area that is off, and check that it took."""
        for name in names:
            if not self.area_state(name):
                self.switch(name).click()
                try:
                    expect(self.switch(name)).to_have_attribute("aria-checked", "true", timeout=self.timeout_ms)
                except AssertionError:
                    raise TechnicalFault(
                        f"{self.SCREEN}: the area '{name}' did not switch on", screen=self.SCREEN
                    ) from None
        return self

    def open_area_names(self) -> list[str]:
        """The names of the areas switched on, in page order."""
        return [name for name in ALL_AREAS if self.switch(name).count() and self.area_state(name)]

    def validate(self):
        """Press "Validate" (creates the account and sends the mail); return step 4."""
        from bot.pages.created import CreatedPage

        self.press(self.button(L.VALIDATE), L.VALIDATE)
        created = CreatedPage(self.page, self.timeout_s)
        self.wait_for_any({"created": created.landmark()})
        return created
