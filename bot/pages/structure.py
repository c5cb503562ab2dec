"""Step 2 of sign-up: the structure (company) and the user's contact details.

The company fields are autofilled from INSEE asynchronously behind a spinner overlay:
`wait_for_autofill` waits for the overlay to go and the identifier to be set, never sleeps.
"""
from __future__ import annotations

import re

from playwright.sync_api import Locator, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bot import labels as L
from bot.errors import TechnicalFault
from bot.pages.base import BasePage

# The fields compared with the supplier's master data, by their English labels.
COMPANY_FIELDS = {
    "company_name": L.COMPANY_NAME,
    "address": L.ADDRESS,
    "postal_code": L.POSTAL_CODE,
    "city": L.CITY,
}

# Labels of the required fields that are visible, enabled and still empty (or unticked).
# The red asterisk is aria-hidden, so it is dropped from the label text as from the
# accessible name.
_MISSING_REQUIRED_JS = """
(root) => {
  const out = [];
  const fields = root.querySelectorAll('input, select, textarea, [role="switch"], [role="checkbox"]');
  for (const el of fields) {
    const required = el.required || el.getAttribute('aria-required') === 'true';
    if (!required || el.disabled || el.readOnly) continue;
    const style = getComputedStyle(el);
    if (el.offsetParent === null || style.visibility === 'hidden') continue;
    let empty;
    if (el.type === 'checkbox' || el.type === 'radio') empty = !el.checked;
    else if (el.getAttribute('role') === 'checkbox') empty = el.getAttribute('aria-checked') !== 'true';
    else empty = !(el.value || '').trim();
    if (!empty) continue;
    let label = el.labels && el.labels[0];
    let text = '';
    if (label) {
      const clone = label.cloneNode(true);
      clone.querySelectorAll('[aria-hidden="true"]').forEach(n => n.remove());
      text = clone.textContent;
    }
    text = el.getAttribute('aria-label') || text || el.name || el.id || '?';
    text = text.replace(/\\s+/g, ' ').replace(/\\*/g, '').trim();
    out.push(text);
  }
  return out;
}
"""


class StructurePage(BasePage):
    """`/account/structure`: company fields (autofilled), option box, contact, terms."""

    SCREEN = "step 2 (structure)"

    def landmark(self) -> Locator:
        return self.heading(L.STEP2_HEADING)

    def busy(self) -> Locator:
        """The spinner overlay and the form while the INSEE lookup runs (ARIA: aria-busy)."""
        return self.page.locator('[aria-busy="true"]')

    def identifier(self) -> Locator:
        return self.field(L.IDENTIFIER)

    def wait_for_autofill(self, timeout_s: float) -> "StructurePage":
        """Wait for the INSEE lookup: nothing busy any more and the identifier set."""
        try:
            self.busy().first.wait_for(state="detached", timeout=timeout_s * 1000)
            expect(self.identifier()).not_to_have_value("", timeout=timeout_s * 1000)
        except AssertionError as exc:
            raise TechnicalFault(f"{self.SCREEN}: the identifier stayed empty", screen=self.SCREEN) from exc
        except PlaywrightTimeout as exc:
            self.raise_for_errors()
            raise TechnicalFault(
                f"{self.SCREEN}: the INSEE autofill did not finish within {timeout_s:g} s", screen=self.SCREEN
            ) from exc
        self.raise_for_errors()
        return self

    def read_company(self) -> dict[str, str]:
        """What the portal autofilled: company name, address, postal code, city (visible ones)."""
        out: dict[str, str] = {}
        for key, label in COMPANY_FIELDS.items():
            loc = self.field(label)
            out[key] = loc.input_value().strip() if loc.is_visible() else ""
        return out

    def fill_company(self, **values: str | None) -> "StructurePage":
        """Overwrite company fields (keys of COMPANY_FIELDS) with the given non-empty values."""
        for key, value in values.items():
            if value:
                self.field(COMPANY_FIELDS[key]).fill(value)
        return self

    def non_diffusible_box(self) -> Locator:
        return self.page.get_by_role("checkbox", name=L.NON_DIFFUSIBLE, exact=True)

    def set_non_diffusible(self) -> "StructurePage":
        """Tick "INSEE not diffusible": the address, postal code, city and country get masked."""
        self.non_diffusible_box().check()
        self.field(L.POSTAL_CODE).wait_for(state="hidden", timeout=self.timeout_ms)
        return self

    def add_notification_email(self, email: str) -> "StructurePage":
        """The "+" of the "Option" box reveals "Notification email address"; type it there."""
        field = self.field(L.NOTIFICATION_EMAIL)
        if not field.is_visible():
            self.button(L.ADD_NOTIFICATION_EMAIL).click()
        field.fill(email)
        return self

    def fill_contact(
        self, first_name: str, last_name: str, phone: str, job_title: str | None = None
    ) -> "StructurePage":
        self.field(L.FIRST_NAME).fill(first_name)
        self.field(L.LAST_NAME).fill(last_name)
        self.field(L.PHONE).fill(phone)
        if job_title:
            self.field(L.JOB_TITLE).fill(job_title)
        return self

    def accept_terms(self) -> "StructurePage":
        self.page.get_by_role("checkbox", name=L.ACCEPT_TERMS, exact=True).check()
        return self

    def missing_required(self) -> list[str]:
        """Labels of the required, visible fields still empty (checked before Validate)."""
        form = self.button(L.VALIDATE).locator("xpath=ancestor::form[1]")
        root = form if form.count() else self.page.locator("body")
        return [re.sub(r"\s+", " ", t) for t in root.evaluate(_MISSING_REQUIRED_JS)]

    def validate(self):
        """Press "Validate"; return step 3 (WorkAreasPage), or raise what the portal said."""
        from bot.pages.work_areas import WorkAreasPage

        self.press(self.button(L.VALIDATE), L.VALIDATE)
        step3 = WorkAreasPage(self.page, self.timeout_s)
        self.wait_for_any({"step3": step3.landmark()})
        return step3
