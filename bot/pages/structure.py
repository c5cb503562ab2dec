"""Step 2 of sign-up: the structure (company) and the user's contact details.

The company fields are autofilled from INSEE asynchronously behind a spinner overlay:
`wait_for_autofill` waits for the overlay to go and the identifier to be set, never sleeps.
"""
from __future__ import annotations

import re
import time

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bot import labels as L
from bot.browser_loop import expect
from bot.errors import TechnicalFault
from bot.pages.base import MOVED_ON_POLL_MS, BasePage, raise_for_messages
from bot.pages.elements import Element, Role
from bot.pages.work_areas import WorkAreasPage

# The INSEE lookup has ended: nothing busy and the identifier set (or the field gone).
_AUTOFILLED_JS = """(field) => !field.isConnected
  || (!document.querySelector('[aria-busy="true"]') && field.value !== '')"""

# The fields compared with the supplier's master data.
COMPANY_FIELDS = {
    "company_name": Element(Role.field, L.COMPANY_NAME),
    "address": Element(Role.field, L.ADDRESS),
    "postal_code": Element(Role.field, L.POSTAL_CODE),
    "city": Element(Role.field, L.CITY),
}

# Labels of the required fields that are visible, enabled and still empty (or unticked):
# aria-label, else aria-labelledby, else the <label>, less aria-hidden parts and asterisks.
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
    const visibleText = (node) => {
      const clone = node.cloneNode(true);
      clone.querySelectorAll('[aria-hidden="true"], input, select, textarea').forEach(n => n.remove());
      return clone.textContent;
    };
    const ids = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean);
    const byIds = ids.map(id => document.getElementById(id)).filter(Boolean).map(visibleText).join(' ');
    const label = el.labels && el.labels[0];
    let text = el.getAttribute('aria-label') || byIds || (label ? visibleText(label) : '');
    text = text || el.name || el.id || '?';
    text = text.replace(/\\s+/g, ' ').replace(/\\*/g, '').trim();
    out.push(text);
  }
  return out;
}
"""


class StructurePage(BasePage):
    """`/account/structure`: company fields (autofilled), option box, contact, terms."""

    SCREEN = "step 2 (structure)"
    IDENTIFIER = Element(Role.field, L.IDENTIFIER)
    NON_DIFFUSIBLE = Element(Role.checkbox, L.NON_DIFFUSIBLE)
    ADD_NOTIFICATION = Element(Role.button, L.ADD_NOTIFICATION_EMAIL)
    NOTIFICATION_EMAIL = Element(Role.field, L.NOTIFICATION_EMAIL)
    FIRST_NAME = Element(Role.field, L.FIRST_NAME)
    LAST_NAME = Element(Role.field, L.LAST_NAME)
    PHONE = Element(Role.field, L.PHONE)
    JOB_TITLE = Element(Role.field, L.JOB_TITLE)
    TERMS = Element(Role.checkbox, L.ACCEPT_TERMS)
    VALIDATE = Element(Role.button, L.VALIDATE)
    REQUIRED = (
        IDENTIFIER, *COMPANY_FIELDS.values(), NON_DIFFUSIBLE, ADD_NOTIFICATION,
        FIRST_NAME, LAST_NAME, PHONE, JOB_TITLE, TERMS, VALIDATE,
    )

    def busy(self) -> Locator:
        """The spinner overlay and the form while the INSEE lookup runs (ARIA: aria-busy)."""
        return self.page.locator('[aria-busy="true"]')

    def wait_for_autofill(self, timeout_s: float) -> "StructurePage":
        """Wait for the INSEE lookup: nothing busy any more and the identifier set."""
        deadline = time.monotonic() + timeout_s
        self._watch_autofill(timeout_s)
        left_ms = max(deadline - time.monotonic(), 0.001) * 1000
        try:
            self.busy().first.wait_for(state="detached", timeout=left_ms)
            expect(self.find(self.IDENTIFIER)).not_to_have_value("", timeout=left_ms)
        except AssertionError as exc:
            raise TechnicalFault(f"{self.SCREEN}: the identifier stayed empty", screen=self.SCREEN) from exc
        except PlaywrightTimeout as exc:
            raise_for_messages(self.page, self.SCREEN)
            raise TechnicalFault(
                f"{self.SCREEN}: the INSEE autofill did not finish within {timeout_s:g} s", screen=self.SCREEN
            ) from exc
        raise_for_messages(self.page, self.SCREEN)
        return self

    def _watch_autofill(self, timeout_s: float) -> None:
        """Return soon after the lookup ends, however long it takes: the page itself checks
        every MOVED_ON_POLL_MS, where a locator's wait asks only every 500 ms after its first
        half second. The locator checks that follow confirm it (at once) or say what is wrong;
        a field replaced meanwhile ends this wait early and leaves the checking to them."""
        try:
            field = self.find(self.IDENTIFIER).first.element_handle(timeout=timeout_s * 1000)
            self.page.wait_for_function(
                _AUTOFILLED_JS, arg=field, timeout=timeout_s * 1000, polling=MOVED_ON_POLL_MS
            )
        except PlaywrightError:  # a timeout too: the locator checks then raise what they see
            pass

    def read_company(self) -> dict[str, str]:
        """What the portal autofilled: company name, address, postal code, city (visible ones)."""
        out: dict[str, str] = {}
        for key, element in COMPANY_FIELDS.items():  # one query per field, none shown reads ""
            out[key] = self.find(element).evaluate_all("els => els.length ? (els[0].value || '').trim() : ''")
        return out

    @staticmethod
    def address_masked(company: dict[str, str]) -> bool:
        """INSEE gave no address (a non-diffusible record): "INSEE not diffusible" must be ticked."""
        return any(company.get(k, "") in ("", L.INSEE_MASKED) for k in ("address", "postal_code", "city"))

    def fill_company(self, **values: str | None) -> "StructurePage":
        """Overwrite company fields (keys of COMPANY_FIELDS) with the given non-empty values."""
        for key, value in values.items():
            if value:
                self.find(COMPANY_FIELDS[key]).fill(value)
        return self

    def set_non_diffusible(self) -> "StructurePage":
        """Tick "INSEE not diffusible": the address, postal code, city and country get masked."""
        self.find(self.NON_DIFFUSIBLE).check()
        self.find(COMPANY_FIELDS["postal_code"]).wait_for(state="hidden", timeout=self.timeout_ms)
        return self

    def add_notification_email(self, email: str) -> "StructurePage":
        """The "+" of the "Option" box reveals "Notification email address"; type it there."""
        if not self.shows(self.NOTIFICATION_EMAIL):
            self.find(self.ADD_NOTIFICATION).click()
        self.find(self.NOTIFICATION_EMAIL).fill(email)
        return self

    def fill_contact(
        self, first_name: str, last_name: str, phone: str, job_title: str | None = None
    ) -> "StructurePage":
        self.find(self.FIRST_NAME).fill(first_name)
        self.find(self.LAST_NAME).fill(last_name)
        self.find(self.PHONE).fill(phone)
        if job_title:
            self.find(self.JOB_TITLE).fill(job_title)
        return self

    def accept_terms(self) -> "StructurePage":
        self.find(self.TERMS).check()
        return self

    def missing_required(self) -> list[str]:
        """Labels of the required, visible fields still empty (checked before Validate)."""
        form = self.find(self.VALIDATE).locator("xpath=ancestor::form[1]")
        root = form if form.count() else self.page.locator("body")
        return [re.sub(r"\s+", " ", t) for t in root.evaluate(_MISSING_REQUIRED_JS)]

    def validate(self) -> "WorkAreasPage":
        """Press "Validate"; return step 3 (WorkAreasPage), or raise what the portal said."""
        return self.press(self.VALIDATE, WorkAreasPage)
