"""`chorus-bot register`, `credentials` and `doctor` (contract: shared/spec/cli.md).

`register` runs one supplier end to end and prints one line; its exit code follows the
contract (0 activated, 1 needs a person, 2 usage/config, 3 technical failure).
`credentials` is the only place a stored password or secret answer is ever shown: on
stdout, on explicit request, never through the logger; `credentials --new-key` prints a
fresh random CHORUS_SECRET_KEY the same way.
"""
from __future__ import annotations

from typing import Optional

import typer

from bot.cli import OPTS, app, fail_config
from bot.errors import ConfigError
from bot.models import RegistrationResult, Supplier
from bot.runs import EXIT_BUSINESS, EXIT_OK, EXIT_TECHNICAL, EXIT_USAGE, exit_code, new_run_id
from bot.settings import Settings, load_settings


def result_line(result: RegistrationResult) -> str:
    """One line a person reads: status, SIRET, email, message (never a secret)."""
    return f"{result.status.value}: {result.siret} {result.email}: {result.message}"


@app.command()
def register(
    siret: str = typer.Option(..., "--siret", help="The SIRET (14 digits; spaces allowed)."),
    email: str = typer.Option(..., "--email", help="The login email of the account to create."),
    first_name: str = typer.Option(..., "--first-name"),
    last_name: str = typer.Option(..., "--last-name"),
    phone: str = typer.Option(..., "--phone"),
    job_title: Optional[str] = typer.Option(None, "--job-title"),
    notification_email: Optional[str] = typer.Option(None, "--notification-email"),
    areas: Optional[str] = typer.Option(
        None, "--areas", help='Work areas to open besides the default ones, e.g. "Work invoices,Commitments".'
    ),
    non_diffusible: bool = typer.Option(False, "--non-diffusible", help="The SIRET is non-diffusible at INSEE."),
    company_name: Optional[str] = typer.Option(None, "--company-name", help="Master data, compared with INSEE."),
    postal_code: Optional[str] = typer.Option(None, "--postal-code", help="Master data, compared with INSEE."),
    city: Optional[str] = typer.Option(None, "--city", help="Master data, compared with INSEE."),
) -> None:
    """Register one supplier end to end (sign-up, activation mail, password)."""
    from bot.credentials import CredentialStore
    from bot.flows.registration import RegistrationFlow, register_with_retries
    from bot.flows.session import BrowserSession
    from bot.journal import Journal, LockBusy, RunLock
    from bot.logs import setup_logging
    from bot.errors import TechnicalFault
    from bot.mail import ActivationMailbox, check_login
    from bot.runtemp import run_temp_dir
    from bot.secrets import registry
    from bot.tracing import prune_runs

    try:
        settings = load_settings()
        settings.require("portal_url", "imap_host", "imap_user", "imap_password")
        check_login(settings)  # pre-flight: a refused IMAP login stops here, before the portal is touched
    except ConfigError as exc:
        raise fail_config(exc) from None
    except TechnicalFault as exc:
        typer.echo(f"error: {registry.mask(exc.message)}: nothing was started", err=True)
        raise typer.Exit(EXIT_TECHNICAL) from None
    supplier = Supplier(
        siret=siret,
        email=email,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        job_title=job_title,
        notification_email=notification_email,
        areas=[a for a in (areas or "").replace(";", ",").replace("|", ",").split(",") if a.strip()],
        non_diffusible=non_diffusible,
        company_name=company_name,
        postal_code=postal_code,
        city=city,
    )
    run_id = new_run_id()
    setup_logging(settings, run_id)
    headless = False if OPTS.headed else None
    slow_mo = OPTS.slow_mo or None
    try:
        # The browser closes (BrowserSession) before its temporary folder goes (run_temp_dir).
        with RunLock(settings.state_db), run_temp_dir(), Journal(settings.state_db) as journal, BrowserSession(
            settings, headless=headless, slow_mo=slow_mo
        ) as session, ActivationMailbox(settings, settings.portal_url, login_checked=True) as mailbox:
            flow = RegistrationFlow(
                settings,
                session.new_context,
                mailbox,
                journal,
                CredentialStore(settings.state_db, settings.secret_key),
                run_id,
                dry_run=OPTS.dry_run,
            )
            result = register_with_retries(flow, supplier, settings)
    except (ConfigError, LockBusy) as exc:
        raise fail_config(exc) from None
    prune_runs(settings, keep=run_id)  # as a batch does: ARTIFACTS_KEEP_RUNS / ARTIFACTS_KEEP_DAYS
    typer.echo(result_line(result))
    raise typer.Exit(exit_code([result], dry_run=OPTS.dry_run))


@app.command()
def credentials(
    siret: Optional[str] = typer.Option(None, "--siret", help="The SIRET of the account."),
    new_key: bool = typer.Option(
        False, "--new-key", help="Print a fresh random key for CHORUS_SECRET_KEY (touches no store)."
    ),
) -> None:
    """Show the stored login email, password, secret question and answer of one account
    (--siret), or make a new random CHORUS_SECRET_KEY (--new-key)."""
    from bot.credentials import CredentialStore
    from bot.credentials import new_key as make_key
    from bot.siret import normalise_siret

    if new_key == (siret is not None):
        raise fail_config(ValueError("give either --siret S or --new-key"))
    if new_key:
        # Only stdout: the key is never logged. Setting it is the user's step, before the store exists.
        typer.echo(make_key())
        typer.echo(
            "Set it as CHORUS_SECRET_KEY (in .env or the service's environment file) before the first run"
            " that stores credentials, and keep a copy: without it the stored passwords are lost."
            " A state DB keeps the key it was made with.",
            err=True,
        )
        return
    try:
        settings = load_settings()
        stored = CredentialStore(settings.state_db, settings.secret_key).get(normalise_siret(siret))
    except ConfigError as exc:
        raise fail_config(exc) from None
    if stored is None:
        typer.echo(f"no stored credentials for SIRET {normalise_siret(siret)}", err=True)
        raise typer.Exit(EXIT_BUSINESS)
    # The only place a secret is printed: stdout, on explicit request, never logged.
    typer.echo(f"siret: {stored.siret}")
    typer.echo(f"login email: {stored.email}")
    typer.echo(f"password: {stored.password}")
    typer.echo(f"secret question: {stored.question}")
    typer.echo(f"answer: {stored.answer}")
    typer.echo(f"stored at: {stored.stored_at.isoformat()}")


@app.command()
def doctor() -> None:
    """Check the settings, the browser, the portal and the IMAP login; one verdict each."""
    checks: list[tuple[str, str | None]] = []  # (name, None when ok else the reason)
    try:
        settings = load_settings()
        settings.require("portal_url", "imap_host", "imap_user", "imap_password")
    except ConfigError as exc:
        typer.echo(f"settings: FAIL: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    checks.append(("settings", None))
    checks.append(("browser", _check_browser(settings)))
    checks.append(("portal", _check_portal(settings)))
    checks.append(("imap", _check_imap(settings)))
    for name, problem in checks:
        typer.echo(f"{name}: {'ok' if problem is None else 'FAIL: ' + problem}")
    raise typer.Exit(EXIT_OK if all(problem is None for _, problem in checks) else EXIT_USAGE)


def _check_browser(settings: Settings) -> str | None:
    from playwright.sync_api import sync_playwright

    from bot.browser import launch_browser
    from bot.runtemp import run_temp_dir
    from bot.secrets import first_line

    try:
        with run_temp_dir(), sync_playwright() as playwright:
            browser = launch_browser(playwright, settings)
            browser.close()
    except ConfigError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any launch failure is the verdict
        return f"Chromium does not start: {first_line(exc)}"
    return None


def _check_portal(settings: Settings) -> str | None:
    from bot.flows.gate import PortalDown, check_portal

    try:
        check_portal(settings.portal_url, 15.0)
    except PortalDown as exc:
        return str(exc)
    return None


def _check_imap(settings: Settings) -> str | None:
    from bot.errors import TechnicalFault
    from bot.mail import check_login
    from bot.secrets import registry

    try:
        check_login(settings)
    except (ConfigError, TechnicalFault) as exc:
        return registry.mask(str(exc))
    return None
