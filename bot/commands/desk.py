"""`chorus-bot desk`: the address of the captcha desk of the batch running on this journal.

`chorus-bot batch FILE --desk` serves the desk and prints its address; this command finds it
again from another terminal (or a colleague's session on the same account): the journal's
lock says whether a batch runs, its runs table names the latest run, and that run's folder
holds the address in a private file while the desk runs (why a file: see ``bot.desk``).
"""
from __future__ import annotations

import typer

from bot.cli import app, fail_config
from bot.errors import ConfigError
from bot.runs import EXIT_BUSINESS


@app.command("desk")
def desk() -> None:
    """Print the address of the running batch's captcha desk (a local web page, token included)."""
    from bot.desk import desk_address
    from bot.journal import Journal, RunLock, journal_exists, shown_state_db
    from bot.settings import load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise fail_config(exc) from None
    db = settings.state_db
    if not journal_exists(db) or not RunLock(db).holder():
        typer.echo(f"no batch is running on the journal {shown_state_db(db)}: start one with chorus-bot batch FILE --desk", err=True)
        raise typer.Exit(EXIT_BUSINESS)
    with Journal(db) as journal:
        run = journal.run()
    address = desk_address(settings, run.run_id) if run is not None and run.finished_at is None else None
    if address is None:
        which = f"batch {run.run_id}" if run is not None else "the running batch"
        typer.echo(f"{which} has no captcha desk (it was started without --desk, or has not reached its"
                   " pre-flight yet)", err=True)
        raise typer.Exit(EXIT_BUSINESS)
    typer.echo(address)
