"""`chorus-bot check-site`: is the portal still the one the bot knows? Answered before any
supplier is touched (deploy/ runs it before the nightly batch).

Walks what can be reached without creating anything: home, the cookie banner, the language
switch, the log-in form, the sign-up form up to its first submit; with --siret and --email,
the guide's journey up to step 3, whose "Validate" (the one click that creates an account)
is never pressed (steps 1 and 2 only keep what was typed in the portal's session). Each
screen is recognised by the same page objects and catalogue as `register`; the command
prints every required element with the wording found or MISSING, and saves a screenshot.
Exit codes: 0 everything found, 1 something missing (named), 2 usage or configuration
error (or the portal refused the --siret/--email given), 3 portal unreachable or failing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, TypeVar

import typer

from bot.cli import OPTS, app, fail_config
from bot.errors import BusinessOutcome, CeaTrapError, ConfigError, ScreenDrift, TechnicalFault
from bot.runs import EXIT_BUSINESS, EXIT_OK, EXIT_TECHNICAL, EXIT_USAGE
from bot.secrets import first_line
from bot.settings import Journey

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from bot.pages.account import AccountPage
    from bot.pages.base import BasePage
    from bot.settings import Settings


# What check-site types into step 2 to reach step 3 (never submitted further).
PLACEHOLDER_CONTACT = ("Check", "Site", "+33 1 00 00 00 00")


class Stop(Exception):
    """The walk cannot go on; `code` is the command's exit code, `reason` its last line."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class SiteCheck:
    """The walk's findings, printed screen by screen as they come."""

    out_dir: Path
    screens: int = 0
    found: int = 0
    missing: list[str] = field(default_factory=list)

    def record(self, screen: BasePage, *, counted: bool = True, note: str | None = None) -> None:
        """Print each required element of `screen` found or missing; save a screenshot of it.

        `counted=False`: reported, but its absence fails nothing (the EN switch under auto).
        """
        from bot.private import write_private

        self.screens += 1
        typer.echo(screen.SCREEN)
        for element, wording in screen.check():
            if wording is not None:
                self.found += counted
                typer.echo(f"  found    {str(element):<58} as '{wording}'")
            else:
                typer.echo(f"  MISSING  {element}" + ("" if counted else " (not required)"))
                if counted:
                    self.missing.append(f"{screen.SCREEN}: {element}")
        if note:
            typer.echo(f"  note: {note}")
        path = self.out_dir / f"{self.screens:02d}-{_slug(screen.SCREEN)}.png"
        try:
            write_private(path, screen.page.screenshot(full_page=True))
            typer.echo(f"  screenshot: {path}")
        except Exception as exc:  # noqa: BLE001 - a missing screenshot must not hide the findings
            typer.echo(f"  screenshot: none ({first_line(exc)})")


def _slug(title: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())


@app.command("check-site")
def check_site(
    journey: Optional[Journey] = typer.Option(
        None, "--journey", help="The sign-up journey to expect (default: CHORUS_JOURNEY, auto)."
    ),
    siret: Optional[str] = typer.Option(None, "--siret", help="Also walk the guide's steps 1-2 with this SIRET."),
    email: Optional[str] = typer.Option(None, "--email", help="The login email typed at step 1 (with --siret)."),
) -> None:
    """Walk the portal's screens without creating anything; report each required element."""
    from bot.logs import setup_logging
    from bot.private import private_dir, private_file
    from bot.runs import new_run_id
    from bot.settings import load_settings
    from bot.siret import check_email, check_siret
    from bot.tracing import RUN_MARKER, prune_runs, run_dir

    try:
        settings = load_settings()
        settings.require("portal_url")
        journey = journey or settings.journey
        if (siret is None) != (email is None):
            raise ConfigError("--siret and --email go together")
        identity = (check_siret(siret), check_email(email)) if siret and email else None
    except (ConfigError, BusinessOutcome) as exc:
        raise fail_config(exc) from None
    run_id = new_run_id()
    setup_logging(settings, run_id)
    run = private_dir(run_dir(settings, run_id))
    private_file(run / RUN_MARKER)
    check = SiteCheck(private_dir(run / "check-site"))
    typer.echo(f"checking {settings.portal_url} (journey {journey.value}, language {settings.language.value})")
    try:
        _walk(settings, check, journey, identity)
        code, last = EXIT_OK, None
    except Stop as stop:
        code, last = stop.code, stop.reason
    prune_runs(settings, keep=run_id)
    if check.missing:
        typer.echo(f"MISSING {len(check.missing)} required element(s): " + "; ".join(check.missing))
        code = code or EXIT_BUSINESS
    if last:
        typer.echo(last)
    if code == EXIT_OK:
        typer.echo(f"all {check.found} required elements found on {check.screens} screens")
    raise typer.Exit(code)


def _walk(settings: Settings, check: SiteCheck, journey: Journey, identity: tuple[str, str] | None) -> None:
    """Open a browser and walk the screens (see the module doc); raise Stop to end early."""
    from playwright.sync_api import Error as PlaywrightError

    from bot.flows.session import BrowserSession
    from bot.pages.base import CeaGuard

    headless = False if OPTS.headed else None
    with BrowserSession(settings, headless=headless, slow_mo=OPTS.slow_mo or None) as session:
        try:
            context = session.new_context()
        except PlaywrightError as exc:
            raise Stop(EXIT_TECHNICAL, f"the browser did not start: {first_line(exc)}") from None
        context.set_default_timeout(settings.page_timeout_s * 1000)
        guard = CeaGuard().install(context)
        page = context.new_page()
        guard.watch(page)
        try:
            _screens(settings, check, page, journey, identity)
        except ScreenDrift:
            raise Stop(EXIT_BUSINESS, "stopped at the first screen that changed: the screens after it were not checked")
        except BusinessOutcome as exc:
            raise Stop(EXIT_USAGE, f"the portal refused the --siret/--email given: {exc.message}") from None
        except (TechnicalFault, CeaTrapError) as exc:
            raise Stop(EXIT_TECHNICAL, f"the portal is unreachable or failing: {exc}") from None
        except PlaywrightError as exc:
            raise Stop(EXIT_TECHNICAL, f"the portal is unreachable or failing: {first_line(exc)}") from None
        finally:
            context.close()


S = TypeVar("S", bound="BasePage")


def _arrive(check: SiteCheck, go: Callable[[], S], *screens: BasePage) -> S:
    """Run `go` (a click or a page load that leads to one of `screens`) and record the screen shown.

    A drifted screen is recorded element by element with what the page shows instead, then
    the ScreenDrift goes on up.
    """
    try:
        arrived = go()
    except ScreenDrift as drift:
        closest = next((s for s in screens if s.SCREEN == drift.expected), screens[0])
        check.record(closest, note=f"the page shows {drift.saw}")
        raise
    check.record(arrived)
    return arrived


def _screens(
    settings: Settings, check: SiteCheck, page: Page, journey: Journey, identity: tuple[str, str] | None
) -> None:
    from bot.pages.account import AccountPage
    from bot.pages.home import CookieBanner, HomePage, LanguageSwitch
    from bot.pages.login import LoginPage
    from bot.pages.personal import PersonalInfoPage
    from bot.settings import PortalLanguage

    timeout = settings.page_timeout_s
    url = settings.portal_url + "/"
    home = HomePage(page, timeout)
    _arrive(check, lambda: home.open(url), home)

    banner = CookieBanner(page, timeout)
    if banner.shown():
        check.record(banner)
        home.accept_cookies()
    else:
        typer.echo("cookie banner\n  note: not shown (nothing to answer)")

    wanted = settings.language
    target = "fr" if wanted is PortalLanguage.fr else "en"
    shown = home.shown_language()
    switch = LanguageSwitch(page, timeout, target)
    if shown == target:
        check.record(switch, counted=False, note=f"the portal already shows {'English' if shown == 'en' else 'French'}")
    else:
        counted = wanted is PortalLanguage.en  # auto goes on in French without it
        check.record(switch, counted=counted)
        try:
            now = home.choose_language(wanted)
        except ScreenDrift:
            if counted:
                raise
            now = home.shown_language()
        typer.echo(f"  the portal is now in {'English' if now == 'en' else 'French'}")

    login = LoginPage(page, timeout)
    if not login.missing():
        check.record(login)
    else:
        _arrive(check, lambda: home.press(HomePage.LOG_IN, LoginPage), login)
        home.open(url)

    candidates = {
        Journey.guide: (AccountPage,),
        Journey.account_first: (PersonalInfoPage,),
        Journey.auto: (AccountPage, PersonalInfoPage),
    }[journey]
    signup = _arrive(
        check, lambda: home.press(HomePage.CREATE_ACCOUNT, *candidates), *(c(page, timeout) for c in candidates)
    )
    if identity is None:
        return
    if not isinstance(signup, AccountPage):
        typer.echo("note: --siret/--email walk the guide's journey; this portal creates the account first")
        return
    _guide_steps(settings, check, signup, identity)


def _guide_steps(settings: Settings, check: SiteCheck, step1: AccountPage, identity: tuple[str, str]) -> None:
    """Steps 1 and 2 submitted (nothing is created by them), step 3 checked, its Validate never pressed."""
    from bot.pages.structure import StructurePage
    from bot.pages.structure_exists import StructureExistsPage
    from bot.pages.work_areas import WorkAreasPage

    siret, email = identity
    timeout = settings.page_timeout_s
    page = step1.page
    nxt = _arrive(
        check, lambda: step1.submit(email, siret), StructurePage(page, timeout), StructureExistsPage(page, timeout)
    )
    if isinstance(nxt, StructureExistsPage):
        raise Stop(EXIT_USAGE, f"SIRET {siret} is already registered: steps 2 and 3 need one that is not")
    nxt.wait_for_autofill(settings.autofill_timeout_s)
    if StructurePage.address_masked(nxt.read_company()):
        nxt.set_non_diffusible()
    nxt.fill_contact(*PLACEHOLDER_CONTACT)
    nxt.accept_terms()
    _arrive(check, nxt.validate, WorkAreasPage(page, timeout))
    typer.echo("stopped before step 3's Validate: nothing was created")
