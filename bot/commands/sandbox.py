"""`chorus-bot sandbox`: the local portal and its Dovecot in the foreground (spec: portal.md, "Running it").

Prints one ``CHORUS_NAME=value`` line per setting the bot needs, then ``sandbox ready``,
so that scripts can read the settings and wait for that line. Runs until SIGINT/SIGTERM/SIGHUP,
then stops both and removes the run's folder (exit 0). A start-up failure is one line and
exit 2. The only place in ``bot/`` that imports ``fixtures`` (the bot never knows it talks
to the sandbox; this command merely runs it).
"""
from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Optional

import typer

from bot.cli import app
from bot.runs import EXIT_TECHNICAL, EXIT_USAGE

DEFAULT_PORT = 8765
HEALTH_CHECK_S = 1.0


@app.command("sandbox")
def sandbox(
    port: int = typer.Option(
        DEFAULT_PORT, "--port", envvar="CHORUS_SANDBOX_PORT", min=0, max=65535,
        help="Port of the portal on 127.0.0.1 (0 picks a free one).",
    ),
    profile: str = typer.Option(
        "default", "--profile", envvar="CHORUS_SANDBOX_PROFILE",
        help="default (the guide's journey; no captcha, no one-time code, no latency) or live-like (the account-first "
             "journey and all of them).",
    ),
    insee_dir: Optional[Path] = typer.Option(
        None, "--insee-dir", envvar="CHORUS_SANDBOX_INSEE_DIR",
        help="Folder of <siret>.json INSEE answers (default: the package's fixtures/insee).",
    ),
    journey: Optional[str] = typer.Option(
        None, "--journey", envvar="CHORUS_SANDBOX_JOURNEY",
        help="guide (the supplier guide's 4 steps) or account-first (the live portal's: account, log-in on a "
             "second origin printed as CHORUS_IDP_URL, then the structure). Default: the profile's.",
    ),
    markup: str = typer.Option(
        "standard", "--markup", envvar="CHORUS_SANDBOX_MARKUP",
        help="How the pages are built: standard, alt (the same journey built as a service portal would) "
             "or labels (one field renamed). The `markup` knob's value after a reset.",
    ),
) -> None:
    """Run the sandbox portal and its Dovecot; print the CHORUS_* settings that point the bot at them."""
    from fixtures.portal.server import Sandbox, SandboxError  # late: uvicorn & co. only for this command

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    box = Sandbox(port=port, profile=profile, insee_dir=insee_dir, markup=markup, journey=journey)
    try:
        box.start()
    except SandboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    try:
        for name, value in box.env.items():
            print(f"{name}={value}")
        print("sandbox ready", flush=True)
        problem = None
        while problem is None and not stop.wait(HEALTH_CHECK_S):
            problem = box.failure()
    finally:
        box.stop()
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(EXIT_TECHNICAL)
