"""`chorus-bot desk`: the address of the captcha desk of the batch running on this journal.

`chorus-bot batch FILE --desk` serves the desk and prints its address; this command finds it
again from another terminal (or a colleague's session on the same account): the journal's
lock says whether a batch runs, its runs table names the latest run, and that run's folder
holds the address in a private file while the desk runs (why a file: see ``bot.desk``).

`chorus-bot desk --serve` serves the one desk that every `chorus-bot worker --desk` of a
PostgreSQL state DB shares, whatever machine each runs on (``bot.desk_shared``), until Ctrl-C.
"""
from __future__ import annotations

import typer

from bot.cli import app, fail_config
from bot.errors import ConfigError
from bot.runs import EXIT_BUSINESS


@app.command("desk")
def desk(
    serve: bool = typer.Option(
        False, "--serve", help="Serve the desk shared by every `worker --desk` (CHORUS_STATE_DB=postgresql://…).",
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="With --serve: where the desk listens (elsewhere than this machine: a warning).",
    ),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="With --serve: its port (default: a free one)."),
) -> None:
    """Print the address of the running batch's captcha desk (a local web page, token included)."""
    if serve:
        _serve(host, port)
        return
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


def _serve(host: str, port: int) -> None:
    """The shared desk, until Ctrl-C / SIGTERM."""
    import signal
    import threading

    from rich.console import Console

    from bot.desk_shared import SharedWebDesk
    from bot.logs import setup_logging
    from bot.settings import load_settings

    try:
        settings = load_settings()
        if not settings.uses_postgres:
            raise ConfigError("CHORUS_STATE_DB: desk --serve needs a postgresql:// URL (the workers' desk lives there)")
        setup_logging(settings, "shared-desk")
        desk = SharedWebDesk(settings, host=host, port=port)
        desk.start()
    except ConfigError as exc:
        raise fail_config(exc) from None
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        if not desk.local:
            Console(stderr=True).print(
                f"warning: the captcha desk listens on {host}, not only on this machine: whoever reaches it with its"
                " address can see the suppliers waiting and answer for them, over plain HTTP",
                highlight=False, markup=False, soft_wrap=True)
        Console().print(f"captcha desk: {desk.url}", highlight=False, markup=False, soft_wrap=True)
        while not stopped.wait(1.0):  # until SIGTERM; Ctrl-C raises KeyboardInterrupt here
            pass
    except KeyboardInterrupt:
        pass
    finally:
        desk.stop()
