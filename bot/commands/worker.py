"""`chorus-bot worker`: take suppliers queued by `batch --enqueue` until stopped (bot.flows.worker)."""
from __future__ import annotations

import typer

from bot.cli import OPTS, app, fail_config
from bot.errors import ConfigError, TechnicalFault
from bot.runs import EXIT_TECHNICAL

REQUIRED_SETTINGS = ("portal_url", "imap_host", "imap_user", "imap_password", "secret_key")


@app.command()
def worker(
    concurrency: int = typer.Option(
        None, "--concurrency", min=1, max=64, help="Suppliers in flight at once (default: CHORUS_CONCURRENCY)."
    ),
    desk: bool = typer.Option(
        False, "--desk", help="Send captchas to the desk every worker shares (chorus-bot desk --serve), not CHORUS_CAPTCHA's.",
    ),
) -> None:
    """Register suppliers queued by `batch --enqueue` (CHORUS_STATE_DB=postgresql://…), until Ctrl-C."""
    from bot.flows.worker import QueueWorker
    from bot.runtemp import run_temp_dir
    from bot.settings import load_settings

    try:
        settings = load_settings()
        settings.require(*REQUIRED_SETTINGS)
        with run_temp_dir():
            code = QueueWorker(
                settings, concurrency or settings.concurrency,
                headless=False if OPTS.headed else None, slow_mo=OPTS.slow_mo or None, shared_desk=desk,
            ).run()
    except ConfigError as exc:
        raise fail_config(exc) from None
    except TechnicalFault as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(EXIT_TECHNICAL) from None
    raise typer.Exit(code)
