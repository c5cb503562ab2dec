"""A browser started on first use, for the commands that register suppliers.

Why lazy: a supplier whose input fails the pre-flight (malformed SIRET, blocked SIREN)
must never cost a browser start; the flow asks for a context only after the pre-flight.
"""
from __future__ import annotations

from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

from bot.browser import launch_browser
from bot.settings import Settings


class BrowserSession:
    """`new_context()` launches Playwright and Chromium the first time; `close()` stops them."""

    def __init__(self, settings: Settings, *, headless: bool | None = None, slow_mo: float | None = None):
        self.settings = settings
        self.headless = headless
        self.slow_mo = slow_mo
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    @property
    def started(self) -> bool:
        return self._browser is not None

    def new_context(self) -> BrowserContext:
        if self._browser is None:
            self._playwright = sync_playwright().start()
            try:
                self._browser = launch_browser(
                    self._playwright, self.settings, headless=self.headless, slow_mo=self.slow_mo
                )
            except BaseException:
                self.close()
                raise
        return self._browser.new_context()

    def close(self) -> None:
        browser, playwright = self._browser, self._playwright
        self._browser = self._playwright = None
        if browser is not None:
            browser.close()
        if playwright is not None:
            playwright.stop()

    def __enter__(self) -> "BrowserSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
