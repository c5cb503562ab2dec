"""The `chorus-bot` command line (contract: shared/spec/cli.md).

Each command parses its options here and delegates to the module that does the work,
imported lazily so that `chorus-bot --help` stays fast.
Exit codes: 0 all activated/done, 1 business outcome needs a person, 2 usage/config error,
3 technical failure remains after retries.
"""
from __future__ import annotations

import sys

import typer

from bot.errors import ConfigError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Registers suppliers on Chorus Pro, the French state's e-invoicing portal.",
)

from bot.runs import EXIT_USAGE


class GlobalOptions:
    headed: bool = False
    slow_mo: int = 0
    dry_run: bool = False


OPTS = GlobalOptions()


@app.callback()
def _global(
    headed: bool = typer.Option(False, "--headed", help="Show the browser window."),
    slow_mo: int = typer.Option(0, "--slow-mo", metavar="MS", help="Slow every browser action by MS milliseconds."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Walk the journey and fill every form, but press no final Validate."
    ),
) -> None:
    OPTS.headed, OPTS.slow_mo, OPTS.dry_run = headed, slow_mo, dry_run


def fail_config(exc: Exception) -> "typer.Exit":
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(EXIT_USAGE)


def main() -> None:
    try:
        app()
    except ConfigError as exc:  # raised outside a command's own handling
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)



# Each module below adds its commands to `app` (import for the side effect).
from bot.commands import batch, check_site, register, report, sandbox, trace  # noqa: E402,F401
from bot.commands import desk, worker  # noqa: E402,F401


if __name__ == "__main__":
    main()
