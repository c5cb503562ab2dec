"""Step 3 of sign-up: "Open your working areas", one switch per area."""
from __future__ import annotations

from bot import labels as L
from bot.browser_loop import expect
from bot.errors import TechnicalFault
from bot.models import ALL_AREAS
from bot.pages.base import BasePage
from bot.pages.created import CreatedPage
from bot.pages.elements import Element, Role

# One switch per work area, by the canonical names of bot.models.ALL_AREAS.
AREA_SWITCHES = {name: Element(Role.switch, L.AREAS[name]) for name in ALL_AREAS}
# A switch's state as Playwright's `is_checked` reads it: a native checkbox's checked
# property, else aria-checked; null when there is no such switch.
_STATE_JS = """(els) => {
  if (!els.length) return null;
  const el = els[0];
  if (el.tagName === 'INPUT' && ['checkbox', 'radio'].includes(el.type)) return el.checked;
  return el.getAttribute('aria-checked') === 'true';
}"""


class WorkAreasPage(BasePage):
    """`/account/work-areas`: one switch per area (role="switch" or a checkbox) and "Validate"."""

    SCREEN = "step 3 (work areas)"
    VALIDATE = Element(Role.button, L.VALIDATE)
    REQUIRED = (*AREA_SWITCHES.values(), VALIDATE)

    def _state(self, name: str) -> bool | None:
        """The area's switch: on, off, or None when the page shows no such switch (one query)."""
        return self.find(AREA_SWITCHES[name]).evaluate_all(_STATE_JS)

    def area_state(self, name: str) -> bool:
        """True when the area's switch is on (aria-checked, else the checkbox's checked state)."""
        state = self._state(name)
        if state is None:
            raise TechnicalFault(f"{self.SCREEN}: no work area named '{name}'", screen=self.SCREEN)
        return state

    def open_areas(self, names: list[str] | tuple[str, ...]) -> "WorkAreasPage":
        """Switch on each area that is off, and check that it took."""
        for name in names:
            if not self.area_state(name):
                switch = self.find(AREA_SWITCHES[name]).first
                switch.click()
                try:
                    expect(switch).to_be_checked(timeout=self.timeout_ms)
                except AssertionError:
                    raise TechnicalFault(
                        f"{self.SCREEN}: the area '{name}' did not switch on", screen=self.SCREEN
                    ) from None
        return self

    def open_area_names(self) -> list[str]:
        """The names of the areas switched on, in page order."""
        return [name for name in ALL_AREAS if self._state(name)]

    def validate(self) -> "CreatedPage":
        """Press "Validate" (creates the account and sends the mail); return step 4."""
        return self.press(self.VALIDATE, CreatedPage)
