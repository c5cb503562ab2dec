"""The home page: the cookie banner, the language switch, the way into sign-up and the log-in box."""
from __future__ import annotations

import time

from loguru import logger
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import Page

from bot import labels as L
from bot.errors import ScreenDrift, TechnicalFault
from bot.labels import Language
from bot.pages.account import AccountPage
from bot.pages.login import LoginPage
from bot.pages.personal import PersonalInfoPage
from bot.pages.base import DEFAULT_TIMEOUT_S, BasePage, await_screen, raise_for_messages
from bot.pages.elements import Element, Role
from bot.secrets import first_line
from bot.settings import PortalLanguage


# While the cookie banner is meant to close, how often the bot looks for a portal message instead.
_MESSAGE_CHECK_S = 1.0


class CookieBanner(BasePage):
    """The consent banner of a first visit: a dialog or a region, answered with "Accept all"."""

    SCREEN = "cookie banner"
    BANNER = Element(Role.dialog, L.COOKIE_BANNER)
    ACCEPT = Element(Role.control, L.COOKIES_ACCEPT)
    REQUIRED = (ACCEPT,)

    def shown(self) -> bool:
        """The banner or its button is on the page now."""
        return self.shows(self.BANNER) or self.shows(self.ACCEPT)

    def accept(self) -> None:
        """Press "Accept all" and wait until the banner is gone (a page load or not).

        A portal that answers the click with a message instead (an expired session shows the
        home page, its banner and "Your session has expired.") raises that message at once,
        not after the page timeout."""
        self.assert_arrived()
        button = self.find(self.ACCEPT)
        button.first.click()
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                button.first.wait_for(state="hidden", timeout=min(_MESSAGE_CHECK_S, self.timeout_s) * 1000)
                return
            except PlaywrightTimeout:
                raise_for_messages(self.page, self.SCREEN)
                if time.monotonic() >= deadline:
                    raise TechnicalFault(
                        f"{self.SCREEN}: still shown {self.timeout_s:g} s after 'Accept all'", screen=self.SCREEN
                    ) from None


class LanguageSwitch(BasePage):
    """The header's switch to one language: a link or a button ("EN", "FR")."""

    SCREEN = "language switch"

    def __init__(self, page: Page, timeout_s: float, language: Language):
        super().__init__(page, timeout_s)
        self.language = language

    @property
    def required(self) -> tuple[Element, ...]:
        return (HomePage.SWITCH[self.language],)


class HomePage(BasePage):
    """`/`: French by default; the header's switch gives English."""

    SCREEN = "home"
    CREATE_ACCOUNT = Element(Role.control, L.HOME_CREATE_ACCOUNT)
    LOG_IN = Element(Role.control, L.LOGIN_BUTTON)
    REQUIRED = (CREATE_ACCOUNT, LOG_IN)
    SWITCH: dict[Language, Element] = {"en": Element(Role.control, L.LANG_EN), "fr": Element(Role.control, L.LANG_FR)}

    def __init__(self, page: Page, timeout_s: float = DEFAULT_TIMEOUT_S, language: Language | None = None):
        super().__init__(page, timeout_s)
        self.language = language  # when set, the screen counts only in that language

    @property
    def required(self) -> tuple[Element, ...]:
        if self.language is None:
            return self.REQUIRED
        return tuple(e.in_language(self.language) for e in self.REQUIRED)

    def open(self, url: str) -> "HomePage":
        """Load the home page and check it is the home page (or a portal fault)."""
        try:
            self.page.goto(url, wait_until="domcontentloaded")
        except PlaywrightError as exc:
            raise TechnicalFault(f"home: the portal did not answer ({first_line(exc)})", screen=self.SCREEN) from None
        self.assert_arrived()
        return self

    def shown_language(self) -> Language | None:
        """The language the page is in, judged by the "Create an account" wording shown."""
        shown = self.CREATE_ACCOUNT.wording_shown(self.page)
        return L.HOME_CREATE_ACCOUNT.language_of(shown) if shown else None

    def accept_cookies(self) -> "HomePage":
        """Answer the cookie banner with "Accept all", only if it shows (first visit).

        First, before anything else: a modal banner keeps every other click from landing.
        """
        banner = CookieBanner(self.page, self.timeout_s)
        if banner.shown():
            banner.accept()
            self.assert_arrived()
        return self

    def choose_language(self, wanted: PortalLanguage) -> Language:
        """Put the portal in the language of CHORUS_LANGUAGE with its own switch, as a person would.

        en: English or a ScreenDrift naming the switch; fr: French; auto: English when the
        switch is there and works, else French. Returns the language the portal now shows.
        """
        target: Language = "fr" if wanted is PortalLanguage.fr else "en"
        shown = self.shown_language()
        if shown == target:
            return target
        switch = LanguageSwitch(self.page, self.timeout_s, target)
        if switch.missing():
            if wanted is PortalLanguage.auto:
                logger.info("the portal shows no English switch: going on in French")
                return shown or "fr"
            raise ScreenDrift(switch.SCREEN, [str(e) for e in switch.missing()], self.describe())
        switch.find(switch.required[0]).first.click()
        try:
            await_screen(self.page, [HomePage(self.page, self.timeout_s, language=target)], self.timeout_s)
        except ScreenDrift:
            if wanted is not PortalLanguage.auto:
                raise
            logger.info("the portal's English switch did not work: going on in French")
            return self.assert_arrived().shown_language() or "fr"
        return target

    def switch_to_english(self) -> "HomePage":
        """The supplier guide's "Access the website Chorus Pro in english version"."""
        self.choose_language(PortalLanguage.en)
        return self

    def create_account(self) -> AccountPage:
        """Follow "Create an account" to step 1 of the guide's journey."""
        return self.press(self.CREATE_ACCOUNT, AccountPage)

    def create_account_any(self) -> "AccountPage | PersonalInfoPage":
        """Follow "Create an account": the guide's step 1, or today's personal information."""
        return self.press(self.CREATE_ACCOUNT, AccountPage, PersonalInfoPage)

    def create_user_account(self) -> PersonalInfoPage:
        """Follow "Create an account" to the account-first journey's personal information."""
        return self.press(self.CREATE_ACCOUNT, PersonalInfoPage)

    def go_to_log_in(self) -> LoginPage:
        """Follow "Log in" to a log-in form of its own (the identity provider's, account first)."""
        return self.press(self.LOG_IN, LoginPage)
