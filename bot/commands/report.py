"""`chorus-bot report [--run ID] --format html|json|csv [--output PATH]`: a run's report, again.

Rebuilt from the journal (the run's settings, start, end and report lines, recorded by the
batch) and the run's artifact folder (failure screenshots and summaries), so a report lost,
never asked for, or wanted in another format can be had for any run still in the journal.
Only reads: it works while a batch runs (the report of a run still going says so).
"""
from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Optional

import typer

from bot.cli import app, fail_config
from bot.errors import ConfigError
from bot.runs import EXIT_BUSINESS, EXIT_OK


class ReportFormat(StrEnum):
    html = "html"
    json = "json"
    csv = "csv"


@app.command("report")
def report(
    run: Optional[str] = typer.Option(None, "--run", help="The run id (default: the latest run of the journal)."),
    fmt: ReportFormat = typer.Option(ReportFormat.html, "--format", help="html, json or csv."),
    output: Optional[Path] = typer.Option(
        None, "--output", help="Where to write it (default: report.<format> in the run's artifact folder)."
    ),
) -> None:
    """Rebuild the report of a batch run from the journal and the artifacts."""
    from bot.journal import Journal, journal_exists, shown_state_db
    from bot.report import write_report
    from bot.report_html import RunNotFound, load_run, write_html_report
    from bot.settings import load_settings
    from bot.tracing import make_run_dir

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise fail_config(exc) from None
    if output is not None and output.suffix.lower() != f".{fmt.value}":
        raise fail_config(ValueError(f"--output {output}: the name must end in .{fmt.value} for --format {fmt.value}"))
    shown = shown_state_db(settings.state_db)
    if not journal_exists(settings.state_db):
        typer.echo(f"no journal at {shown}: no batch has run with this CHORUS_STATE_DB", err=True)
        raise typer.Exit(EXIT_BUSINESS)
    with Journal(settings.state_db) as journal:
        try:
            run_report = load_run(journal, settings, run)
        except RunNotFound as exc:
            typer.echo(f"{exc} {shown}", err=True)
            raise typer.Exit(EXIT_BUSINESS) from None
    target = output or make_run_dir(settings, run_report.run_id) / f"report.{fmt.value}"
    if fmt is ReportFormat.html:
        path = write_html_report(run_report, target)
    else:
        path = write_report(run_report.results, target)
    typer.echo(str(path))
    raise typer.Exit(EXIT_OK)
