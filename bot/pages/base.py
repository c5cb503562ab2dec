"""What every page object shares: screens recognised by what they hold, transitions with or
without a page load, the portal's messages, and the CEA guard.

Why: the live portal changes its markup and wording without notice, and swaps some steps in
place (XHR + `history.pushState`). So a screen is not a URL nor a heading: each page object
declares, in one place (`REQUIRED`), the elements the bot needs on it, and a screen has
arrived when all of them are there. After a click the bot waits once, with the page
timeout, for one of the next screens or a portal message; a page that answered but lacks
some elements is a `ScreenDrift` naming them and what the page shows instead, reached after
a short settle period rather than a timeout per element. The portal's messages are mapped
here, once, to a business outcome (final) or a technical fault (retried).
A page object never sleeps: it waits on locators.
"""
from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import ClassVar, TypeVar
from urllib.parse import urlparse

from playwright.sync_api import BrowserContext, CDPSession, Frame, Locator, Page
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bot import labels as L
from bot.errors import BusinessOutcome, CeaTrapError, ScreenDrift, TechnicalFault, WrongScreen
from bot.labels import Wording
from bot.models import Status
from bot.pages.elements import Element, page_summary
from bot.secrets import registry

DEFAULT_TIMEOUT_S = 30.0
# A page that has answered (its DOM is there) gets this share of the page timeout to show
# the elements still missing before it counts as drifted: long enough for a widget that
# renders late, short enough that a changed portal fails in well under two page timeouts.
SETTLE_FRACTION = 0.25
# How often the page is asked whether it moved on after a click. Playwright polls on every
# animation frame by default (60 times a second, layout included); every 50 ms costs 5-8 %
# less CPU per registration (bench/profile.py, two runs each way) for at most 50 ms of delay.
MOVED_ON_POLL_MS = 50

# Alert messages that are a final answer about the supplier's data (never retried).
BUSINESS_MESSAGES: Mapping[Wording, Status] = {
    L.MSG_BAD_EMAIL: Status.invalid_input,
    L.MSG_BAD_SIRET: Status.invalid_input,
    L.MSG_SIRET_UNKNOWN: Status.invalid_input,
    L.MSG_SIRET_CLOSED: Status.invalid_input,
    L.MSG_EMAIL_IN_USE: Status.email_in_use,
    L.MSG_CAPTCHA_WRONG: Status.captcha_required,
    L.MSG_BAD_POSTAL_CODE: Status.invalid_input,
    L.MSG_BAD_PHONE: Status.invalid_input,
    L.MSG_ND_REQUIRED: Status.invalid_input,
    L.MSG_LOGIN_FAILED: Status.failed,  # the password was refused: never typed again blindly
    L.MSG_ACCOUNT_PENDING: Status.pending_activation,
}
# Messages of a portal that may answer better next time (retried with back-off).
FAULT_MESSAGES: tuple[Wording, ...] = (
    L.MSG_MAINTENANCE,
    L.MSG_UNEXPECTED,
    L.MSG_SESSION_EXPIRED,
    L.MSG_CSRF,
    L.MSG_AUTOFILL_FAILED,
    L.MSG_LOCKED,
)
_FAULTS = re.compile("|".join(w.search().pattern for w in FAULT_MESSAGES), re.IGNORECASE)

# ---- the CEA trap -----------------------------------------------------------------------------
_CEA_PATH = re.compile(rf"^{re.escape(L.CEA_PATH)}(?:[/?#]|$)", re.IGNORECASE)
# The requests the browser pauses for the guard (Chromium's Fetch patterns: `*` any text, `?`
# one character, backslash escapes; case sensitive): any URL with /cea or /CEA followed by the
# end, a slash or a query. The guard decides with is_cea_url (any casing, the path only) and
# lets the others go on; another casing is still caught by the navigation check.
_CEA_PATTERNS = [f"*{path}{tail}" for path in (L.CEA_PATH, L.CEA_PATH.upper()) for tail in ("", "/*", "\\?*")]


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

    Two nets: in the page the bot drives (``watch``), every request to a CEA URL fails before
    it leaves the browser (so the portal never even counts a hit); in every page of the
    context, every frame navigation is checked. `error()` then turns what was seen into a
    CeaTrapError the flow raises.

    The first net is Chromium's own request pausing (CDP ``Fetch``) for the CEA patterns only,
    not Playwright's ``route``: a route pauses every request of the context for the driver and
    turns the HTTP cache off, so every script and style sheet of every page is fetched again
    (README, "Benchmarks"), all for a link the bot never follows.
    """

    def __init__(self) -> None:
        self.hits: list[str] = []

    def install(self, context: BrowserContext) -> "CeaGuard":
        context.on("page", self._check_navigations)
        return self

    def watch(self, page: Page) -> None:
        """Both nets on the page the bot drives (call it before the page's first navigation)."""
        self._check_navigations(page)
        session = page.context.new_cdp_session(page)
        session.on("Fetch.requestPaused", lambda event: self._paused(session, event))
        session.send("Fetch.enable", {"patterns": [{"urlPattern": p, "requestStage": "Request"} for p in _CEA_PATTERNS]})

    def _check_navigations(self, page: Page) -> None:
        page.on("framenavigated", self._on_navigated)

    def _paused(self, session: CDPSession, event: dict) -> None:
        url = event["request"]["url"]
        if is_cea_url(url):
            self.hits.append(urlparse(url).path)
            session.send("Fetch.failRequest", {"requestId": event["requestId"], "errorReason": "BlockedByClient"})
        else:
            session.send("Fetch.continueRequest", {"requestId": event["requestId"]})

    def _on_navigated(self, frame: Frame) -> None:
        if is_cea_url(frame.url):
            self.hits.append(urlparse(frame.url).path)

    def error(self) -> CeaTrapError | None:
        if not self.hits:
            return None
        return CeaTrapError(f"the bot tried to open a CEA page ({self.hits[0]}); this is a bot defect")


# ---- what was on the page before a click ----------------------------------------------------------
# Before a click the bot marks what the current screen shows (its elements, its alerts) and
# the document itself. "The page moved on" is then: a new document, a new address
# (pushState), a marked element gone or hidden, or an alert that is new or says something
# else. Once it has, what survived of the old screen is part of the new one (a header, a
# button both steps share) except the old alerts that still say the same: those stay marked
# and never pass for the portal's answer.
_MARK = "data-chorus-old"
_MARK_JS = """(els, token) => {
  document.documentElement.setAttribute('data-chorus-screen', token);
  for (const el of els) {
    el.setAttribute('data-chorus-top', token);
    el.setAttribute('data-chorus-text', el.innerText || '');
    el.setAttribute('data-chorus-old', token);
    el.querySelectorAll('*').forEach((child) => child.setAttribute('data-chorus-old', token));
  }
  return document.querySelectorAll('[data-chorus-top="' + token + '"]').length;
}"""
# Once the page has moved on, the same check unmarks what survived of the old screen (see
# above) before it answers: one round trip for both.
_MOVED_ON_JS = """({token, href, count}) => {
  const movedOn = () => {
    const root = document.documentElement;
    if (!root || root.getAttribute('data-chorus-screen') !== token) return true;
    if (location.href !== href) return true;
    const tops = document.querySelectorAll('[data-chorus-top="' + token + '"]');
    if (tops.length < count) return true;
    for (const el of tops) {
      if (!el.checkVisibility()) return true;
      const changed = (el.innerText || '') !== el.getAttribute('data-chorus-text');
      if (el.getAttribute('role') === 'alert' && changed) return true;
    }
    for (const alert of document.querySelectorAll('[role="alert"]')) {
      const fresh = !alert.hasAttribute('data-chorus-old');
      if (fresh && (alert.innerText || '').trim() && alert.checkVisibility()) return true;
    }
    return false;
  };
  if (!movedOn()) return false;
  for (const el of document.querySelectorAll('[data-chorus-top="' + token + '"]')) {
    const unchanged = (el.innerText || '') === el.getAttribute('data-chorus-text');
    if (el.getAttribute('role') === 'alert' && unchanged) continue;
    for (const node of [el, ...el.querySelectorAll('*')]) node.removeAttribute('data-chorus-old');
  }
  return true;
}"""
_ANSWERED_JS = "() => document.readyState !== 'loading' && !!document.body && document.body.innerText.trim() !== ''"


def _fresh(page: Page, locator: Locator, stale: str | None) -> Locator:
    """`locator` less what is still marked from before the last click (its unchanged alerts)."""
    if stale is None:
        return locator
    return locator.and_(page.locator(f':not([{_MARK}="{stale}"])'))


def _answered(page: Page) -> bool:
    """The page has a parsed document with something in it (not a navigation in flight)."""
    try:
        return bool(page.evaluate(_ANSWERED_JS))
    except PlaywrightError:
        return False


# ---- the portal's messages ------------------------------------------------------------------------
def _first_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def messages(page: Page, stale: str | None = None) -> Locator:
    """What the portal says when it does not show a screen: a fault text or a non-empty alert."""
    faults = page.get_by_text(_FAULTS)
    alerts = page.get_by_role("alert").filter(has_text=re.compile(r"\S"))
    return _fresh(page, faults.or_(alerts), stale)


def raise_for_messages(page: Page, screen: str, stale: str | None = None) -> None:
    """Map a visible fault message or error alert to the bot's error kinds; else return.

    A known message is reported by its catalogue name (its first English wording) whatever
    the portal's language, so that reports read the same in French and English runs.
    """
    if not messages(page, stale).filter(visible=True).count():  # one query when all is well
        return
    faults = _fresh(page, page.get_by_text(_FAULTS), stale).filter(visible=True)
    if faults.count():
        shown = " ".join(faults.all_inner_texts())
        said = next((w.name for w in FAULT_MESSAGES if w.found_in(shown)), _first_line(shown))
        raise TechnicalFault(f"{screen}: the portal said '{said}'", screen=screen)
    alerts = _fresh(page, page.get_by_role("alert"), stale).filter(visible=True)
    text = _first_line(registry.mask(" ".join(t.strip() for t in alerts.all_inner_texts() if t.strip())))
    if not text:
        return
    for wording, status in BUSINESS_MESSAGES.items():
        if wording.found_in(text):
            raise BusinessOutcome(status, wording.name, screen=screen)
    raise TechnicalFault(f"{screen}: the portal said '{text}'", screen=screen)


# ---- screens ----------------------------------------------------------------------------------------
class BasePage:
    """A screen of the portal: its name and the elements that prove it is there."""

    SCREEN: ClassVar[str] = "page"
    REQUIRED: ClassVar[tuple[Element, ...]] = ()

    def __init__(self, page: Page, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.page = page
        self.timeout_s = timeout_s

    @property
    def timeout_ms(self) -> float:
        return self.timeout_s * 1000

    @property
    def required(self) -> tuple[Element, ...]:
        """The elements this screen must show (a subclass may narrow them, e.g. to a language)."""
        return self.REQUIRED

    def find(self, element: Element) -> Locator:
        """The visible element(s) of this page that `element` describes."""
        return element.locate(self.page).filter(visible=True)

    def shows(self, element: Element) -> bool:
        """Whether `element` is on the page now (no waiting)."""
        return self.find(element).count() > 0

    def _shown(self, element: Element, stale: str | None) -> Locator:
        """`element` as this screen shows it, less what is marked from before the last click."""
        return _fresh(self.page, self.find(element), stale)

    def complete(self, stale: str | None = None) -> Locator:
        """The document's root while every required element shows, else nothing: one query
        answers "is this screen here?" where `missing` asks once per element."""
        whole = self.page.locator(":root")
        for element in self.required:
            whole = whole.filter(has=self._shown(element, stale))
        return whole

    def missing(self, stale: str | None = None) -> list[Element]:
        """The required elements not on the page now (no waiting)."""
        return [e for e in self.required if not self._shown(e, stale).count()]

    def check(self) -> list[tuple[Element, str | None]]:
        """Each required element with the wording it is shown under, or None when missing."""
        return [(element, element.wording_shown(self.page)) for element in self.required]

    def describe(self) -> str:
        """What the page shows, one line, for error messages."""
        return page_summary(self.page)

    def assert_arrived(self: "P") -> "P":
        """Wait until this screen shows; else raise the portal's message, ScreenDrift or WrongScreen."""
        await_screen(self.page, [self], self.timeout_s)
        return self

    def press(self, control: Element, *screens: type["P"]) -> "P":
        """Click `control` and return the one of `screens` that shows next.

        Works whether the portal loads a new page or changes this one in place: see
        `_MOVED_ON_JS`. Nothing of the next screen is looked for before the page has moved on,
        and an earlier alert never passes for the portal's answer.
        """
        token = secrets.token_hex(4)
        href = self.page.url
        marked = self.page.get_by_role("alert").filter(visible=True)
        for element in (*self.required, control):
            marked = marked.or_(self.find(element))
        count = marked.evaluate_all(_MARK_JS, token)  # one round trip marks them all
        try:
            self.find(control).first.click()
        except PlaywrightError as exc:
            guard_cea(self.page)
            raise TechnicalFault(
                f"{self.SCREEN}: could not press '{control.name}': {_first_line(registry.mask(str(exc)))}",
                screen=self.SCREEN,
            ) from None
        self._wait_moved_on(control, token, href, count)
        nexts = [cls(self.page, self.timeout_s) for cls in screens]
        return await_screen(self.page, nexts, self.timeout_s, stale=token, origin=self.SCREEN)

    def _wait_moved_on(self, control: Element, token: str, href: str, count: int) -> None:
        try:
            self.page.wait_for_function(
                _MOVED_ON_JS, arg={"token": token, "href": href, "count": count}, timeout=self.timeout_ms,
                polling=MOVED_ON_POLL_MS,
            )
        except PlaywrightTimeout:
            guard_cea(self.page)
            waited = f"nothing changed within {self.timeout_s:g} s of pressing '{control.name}'"
            raise WrongScreen(self.SCREEN, f"{waited}; {self.describe()}") from None
        except PlaywrightError:  # the old document went away under the check: a navigation, so moved on
            guard_cea(self.page)


P = TypeVar("P", bound=BasePage)


def await_screen(
    page: Page, screens: Sequence[P], timeout_s: float, stale: str | None = None, origin: str | None = None
) -> P:
    """Wait once, up to `timeout_s`, for one of `screens` (all of its required elements).

    A portal message instead raises BusinessOutcome or TechnicalFault, for the `origin`
    screen (the one whose button was pressed; else the first expected). A page that has
    answered but lacks elements gets `SETTLE_FRACTION` of the timeout to show them (each
    element that appears restarts that period), then raises ScreenDrift naming the screen
    that came closest, its missing elements and what the page shows. A page that never
    answers raises WrongScreen (a transient fault) at the timeout.
    """
    deadline = time.monotonic() + timeout_s
    settle_s = timeout_s * SETTLE_FRACTION
    origin = origin or screens[0].SCREEN
    while True:
        guard_cea(page)
        for screen in screens:  # the usual case, one query per screen expected
            if screen.complete(stale).count():
                return screen
        missing = {screen: screen.missing(stale) for screen in screens}
        for screen, absent in missing.items():
            if not absent:
                return screen
        closest = min(screens, key=lambda s: len(missing[s]) / len(s.required))
        raise_for_messages(page, origin, stale)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        signs = messages(page, stale)
        for screen, absent in missing.items():
            for element in absent:
                signs = signs.or_(screen._shown(element, stale))
        answered = _answered(page)
        try:
            signs.filter(visible=True).first.wait_for(state="attached", timeout=min(remaining, settle_s) * 1000)
        except PlaywrightTimeout:
            if answered:
                break  # answered a whole settle period ago, and still not all there
        except PlaywrightError as exc:  # the page closed or crashed
            guard_cea(page)
            raise TechnicalFault(f"{origin}: {_first_line(registry.mask(str(exc)))}", screen=origin) from None
    guard_cea(page)
    if not _answered(page):
        raise WrongScreen(closest.SCREEN, f"no answer within {timeout_s:g} s; {page_summary(page)}")
    others = [s.SCREEN for s in screens if s is not closest]
    raise ScreenDrift(closest.SCREEN, [str(e) for e in missing[closest]], page_summary(page), others=others)
