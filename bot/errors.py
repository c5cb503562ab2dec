"""The kinds of failure the bot knows. One place, so flows and runners agree.

- ``BusinessOutcome``: the portal (or our pre-flight) gave a final answer that a person
  must look at (structure exists, email in use, SIRET closed...). Never retried.
- ``TechnicalFault``: something that may work next time (timeout, HTTP 500, crash,
  no answer). Retried with back-off by the runner.
- ``ScreenDrift``: a technical fault of another kind: the portal answered, with a screen
  the bot does not recognise (its markup or wording changed). Retried once at most.
- ``ConfigError``: a missing or bad setting; the CLI prints it on one line and exits 2.
"""
from __future__ import annotations

from bot.models import Status


class ConfigError(Exception):
    """A missing or bad setting. ``str(exc)`` is the one line the user sees."""


class BusinessOutcome(Exception):
    """A final outcome that needs a person. Carries the report status."""

    def __init__(self, status: Status, message: str, *, screen: str | None = None):
        super().__init__(message)
        self.status = Status(status)
        self.message = message
        self.screen = screen


class TechnicalFault(Exception):
    """A fault worth retrying (timeouts, HTTP 5xx, maintenance, crashes)."""

    def __init__(self, message: str, *, screen: str | None = None):
        super().__init__(message)
        self.message = message
        self.screen = screen


class WrongScreen(TechnicalFault):
    """A page object arrived somewhere else than it expected."""

    def __init__(self, expected: str, saw: str):
        super().__init__(f"expected the screen '{expected}' but saw: {saw}", screen=expected)
        self.expected = expected
        self.saw = saw


class ScreenDrift(TechnicalFault):
    """The portal answered with a screen that lacks elements the bot needs: it has changed.

    Not a transient fault: retried once at most (a half-rendered page), then `failed` with
    this message, which names the screen, each missing element and what the page shows.
    """

    def __init__(self, expected: str, missing: list[str], saw: str, *, others: list[str] | None = None):
        nor = f" (nor is it {' or '.join(repr(o) for o in others)})" if others else ""
        super().__init__(
            f"the screen '{expected}' has changed: {', '.join(missing)} not found{nor}; the page shows {saw}",
            screen=expected,
        )
        self.expected = expected
        self.missing = missing
        self.saw = saw


class CeaTrapError(Exception):
    """The browser reached a CEA page. Never retried: this is a bot defect to fix."""
