"""What every page object shares: arrival checks, the CEA guard and error-alert reading.

Why: each screen must prove on arrival that it is the screen we think (a heading or
landmark), or fail naming the screen and what it saw, so that a failure report says
"expected step 3, saw 'An unexpected error occurred.'" instead of a bare timeout. The
portal's error messages are mapped here, once, to a business outcome (final, for a person)
or a technical fault (retried). A page object never sleeps: it waits on locators.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import urlparse

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import BrowserContext, Frame, Locator, Page, Route
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bot import labels as L
from bot.errors import BusinessOutcome, CeaTrapError, TechnicalFault, WrongScreen
from bot.models import Status
from bot.secrets import registry

DEFAULT_TIMEOUT_S = 30.0

# Alert messages that are a final answer about the supplier's data (never retried).
BUSINESS_MESSAGES: Mapping[str, Status] = {
    L.MSG_BAD_EMAIL: Status.invalid_input,
    L.MSG_BAD_SIRET: Status.invalid_input,
    L.MSG_SIRET_UNKNOWN: Status.invalid_input,
    L.MSG_SIRET_CLOSED: Status.invalid_input,
    L.MSG_EMAIL_IN_USE: Status.email_in_use,
    L.MSG_CAPTCHA_WRONG: Status.captcha_required,
    L.MSG_BAD_POSTAL_CODE: Status.invalid_input,
    L.MSG_BAD_PHONE: Status.invalid_input,
    L.MSG_ND_REQUIRED: Status.invalid_input,
}
# Messages of a portal that may answer better next time (retried with back-off).
FAULT_MESSAGES: tuple[str, ...] = (
    L.MSG_MAINTENANCE,
    L.MSG_UNEXPECTED,
    L.MSG_SESSION_EXPIRED,
    L.MSG_CSRF,
    L.MSG_AUTOFILL_FAILED,
    L.MSG_LOCKED,
)

_CEA_PATH = re.compile(rf"^{re.escape(L.CEA_PATH)}(?:[/?#]|$)", re.IGNORECASE)
_CEA_URL = re.compile(rf"^[a-z][a-z0-9+.-]*://[^/?#]+{re.escape(L.CEA_PATH)}(?:[/?#]|$)", re.IGNORECASE)


def is_cea_url(url: str) -> bool:
    """True for any URL under the portal's /cea pages (the trap)."""
    try:
        return bool(_CEA_PATH.match(urlparse(url).path or "/"))
    except ValueError:
        return False


def guard_cea(page: Page) -> None:
    """Raise CeaTrapError at once if the page (or any frame) is on a CEA page."""
    for frame in page.frames:
        if is_cea_url(frame.url):
            raise CeaTrapError(f"the browser reached a CEA page ({urlparse(frame.url).path}); this is a bot defect")


class CeaGuard:
    """Keeps a browser context off the CEA pages, and remembers any attempt to open one.

    Two nets: every request to a CEA URL is aborted before it leaves the browser (so the
    portal never even counts a hit), and every frame navigation is checked. `error()`
    then turns what was seen into a CeaTrapError the flow raises.
    """

    def __init__(self) -> None:
        self.hits: list[str] = []

    def install(self, context: BrowserContext) -> "CeaGuard":
        context.route(_CEA_URL, self._abort)
        context.on("page", self.watch)
        return self

    def watch(self, page: Page) -> None:
        page.on("framenavigated", self._on_navigated)

    def _abort(self, route: Route) -> None:
        self.hits.append(urlparse(route.request.url).path)
        route.abort("blockedbyclient")

    def _on_navigated(self, frame: Frame) -> None:
        if is_cea_url(frame.url):
            self.hits.append(urlparse(frame.url).path)

    def error(self) -> CeaTrapError | None:
        if not self.hits:
            return None
        return CeaTrapError(f"the bot tried to open a CEA page ({self.hits[0]}); this is a bot defect")


def _first_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BasePage:
    """A screen of the portal. Subclasses name the screen and give its landmark."""

    SCREEN: ClassVar[str] = "page"

    def __init__(self, page: Page, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.page = page
        self.timeout_s = timeout_s

    # ---- to override -------------------------------------------------------------------
    def landmark(self) -> Locator:
        """A heading or field only this screen shows."""
        raise NotImplementedError

    # ---- arrival -----------------------------------------------------------------------
    @property
    def timeout_ms(self) -> float:
        return self.timeout_s * 1000

    def alerts(self) -> Locator:
        """The non-empty role="alert" regions (the portal's error messages)."""
        return self.page.get_by_role("alert").filter(has_text=re.compile(r"\S"))

    def faults(self) -> Locator:
        """Any message of a portal in trouble (maintenance, 500, expired session)."""
        loc = self.page.get_by_text(FAULT_MESSAGES[0])
        for message in FAULT_MESSAGES[1:]:
            loc = loc.or_(self.page.get_by_text(message))
        return loc

    def assert_arrived(self) -> "BasePage":
        """Wait until this screen shows; else raise the portal's error or WrongScreen."""
        self.wait_for_any({"arrived": self.landmark()})
        return self

    def wait_for_any(self, outcomes: Mapping[str, Locator], timeout_s: float | None = None) -> str:
        """Wait until one of `outcomes` (or a portal fault/error alert) shows; return its key.

        Known error alerts are raised as BusinessOutcome/TechnicalFault; a CEA page raises
        CeaTrapError; nothing at all within the timeout raises WrongScreen with what we saw.
        """
        guard_cea(self.page)
        combined = self.faults().or_(self.alerts())
        for loc in outcomes.values():
            combined = combined.or_(loc)
        timeout = (timeout_s or self.timeout_s) * 1000
        try:
            combined.first.wait_for(state="visible", timeout=timeout)
        except PlaywrightTimeout:
            guard_cea(self.page)
            raise WrongScreen(self.SCREEN, self.describe()) from None
        except PlaywrightError as exc:  # navigation aborted (e.g. the CEA route), page closed
            guard_cea(self.page)
            raise TechnicalFault(f"{self.SCREEN}: {_first_line(registry.mask(str(exc)))}", screen=self.SCREEN) from None
        guard_cea(self.page)
        for key, loc in outcomes.items():
            if loc.first.is_visible():
                return key
        self.raise_for_errors()
        raise WrongScreen(self.SCREEN, self.describe())

    def raise_for_errors(self) -> None:
        """Map a visible fault message or error alert to the bot's error kinds."""
        for message in FAULT_MESSAGES:
            if self.page.get_by_text(message).first.is_visible():
                raise TechnicalFault(f"{self.SCREEN}: the portal said '{message}'", screen=self.SCREEN)
        text = self.alert_text()
        if not text:
            return
        for message, status in BUSINESS_MESSAGES.items():
            if message in text:
                raise BusinessOutcome(status, message, screen=self.SCREEN)
        raise TechnicalFault(f"{self.SCREEN}: the portal said '{text}'", screen=self.SCREEN)

    def alert_text(self) -> str:
        """The text of the visible error alerts, one line (secrets masked)."""
        parts = [t for t in (s.strip() for s in self.alerts().all_inner_texts()) if t]
        return _first_line(registry.mask(" ".join(parts)))

    def describe(self) -> str:
        """What this page shows, one line, for error messages: path, heading, alert."""
        try:
            path = urlparse(self.page.url).path
            heading = self.page.locator("h1").first
            title = heading.inner_text(timeout=1000) if heading.count() else self.page.title()
            alert = self.alert_text()
        except PlaywrightError:
            return "a closed or crashed page"
        saw = f"{path} '{_first_line(title, 80)}'"
        return registry.mask(f"{saw}, alert: '{alert}'" if alert else saw)

    # ---- helpers for subclasses ---------------------------------------------------------
    def press(self, control: Locator, what: str) -> None:
        """Click a control that loads a new page (form submit, link) and wait for that load.

        Waiting for the navigation, not just the click, keeps the old page's elements (an
        earlier alert, say) from passing for the next screen's.
        """
        try:
            with self.page.expect_navigation(wait_until="domcontentloaded", timeout=self.timeout_ms):
                control.click()
        except PlaywrightTimeout:
            guard_cea(self.page)
            raise WrongScreen(self.SCREEN, f"no new page after pressing '{what}'; {self.describe()}") from None

    def button(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=name, exact=True)

    def field(self, label: str) -> Locator:
        """The form field labelled exactly `label`, the red asterisk of required fields allowed.

        (Playwright matches a <label>'s whole text, aria-hidden asterisk included.)
        """
        return self.page.get_by_label(re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$"))

    def heading(self, name: str) -> Locator:
        return self.page.get_by_role("heading", name=name, exact=True)
