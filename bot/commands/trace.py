"""`chorus-bot trace --siret S`: where the latest trace of a supplier is, and how to open it.

A kept attempt folder holds one ``trace.zip`` (the recorder merges its segments; the span
where secrets were typed is absent by design) and, after a failure, ``failure.png``,
``failure.html``, ``failure.json`` and ``log-tail.txt`` beside it.
"""
from __future__ import annotations

import typer

from bot.cli import app, fail_config
from bot.runs import EXIT_BUSINESS
from bot.errors import ConfigError


@app.command("trace")
def trace(siret: str = typer.Option(..., "--siret", help="The supplier's SIRET (spaces allowed).")) -> None:
    """Print the path of the latest trace of a supplier and the line that opens it."""
    from bot.settings import load_settings
    from bot.tracing import latest_trace

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise fail_config(exc)
    siret = "".join(siret.split())
    path = latest_trace(settings, siret)
    if path is None:
        typer.echo(
            f"no trace kept for SIRET {siret} under {settings.artifacts_dir} "
            "(traces are kept on failure unless CHORUS_TRACE=on)",
            err=True,
        )
        raise typer.Exit(EXIT_BUSINESS)
    typer.echo(str(path.resolve()))
    for extra in sorted(path.parent.glob("failure.*")) + sorted(path.parent.glob("log-tail.txt")):
        typer.echo(f"  {extra.name}: {extra.resolve()}")
    typer.echo(f"playwright show-trace {path.resolve()}")
