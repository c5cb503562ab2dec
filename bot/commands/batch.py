"""`chorus-bot batch`, `status` and `demo` (contract: shared/spec/cli.md).

`batch` reads the whole file before anything starts (a bad file or a missing column is one
line and exit 2), then hands the good rows to ``bot.flows.batch.run_batch``. `status` only
reads the journal (SQLite WAL: it works while a batch writes). `demo` runs the sandbox and
the batch of ``fixtures/suppliers.csv`` (it, and `sandbox`, are the only commands that
import ``fixtures``).
"""
from __future__ import annotations

import contextlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import typer
from rich.console import Console
from rich.table import Table

from bot.cli import OPTS, app, fail_config
from bot.runs import EXIT_BUSINESS, EXIT_OK, EXIT_USAGE
from bot.errors import ConfigError
from bot.settings import Settings, fields_from_env, load_settings

if TYPE_CHECKING:
    from bot.desk import WebDesk

REQUIRED_SETTINGS = ("portal_url", "imap_host", "imap_user", "imap_password")
REPORT_SUFFIXES = (".json", ".csv", ".html")


@app.command()
def batch(
    file: Path = typer.Argument(..., help="CSV (comma or semicolon) or XLSX of suppliers, one per row."),
    concurrency: Optional[int] = typer.Option(
        None, "--concurrency", min=1, max=64, help="Suppliers in flight at once (default: CHORUS_CONCURRENCY)."
    ),
    report: Optional[Path] = typer.Option(
        None, "--report", help="Write the report there (.json, .csv or .html); {run_id} and {date} are replaced."
    ),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Run again suppliers that ended failed or in a business outcome."
    ),
    wait_lock: bool = typer.Option(
        False, "--wait-lock/--no-wait-lock",
        help="If another run holds the journal: wait for it, or (default) say so and exit 0.",
    ),
    desk: bool = typer.Option(
        False, "--desk", help="Serve the captcha desk: a local web page where a person answers every waiting captcha."
    ),
    desk_host: str = typer.Option(
        "127.0.0.1", "--desk-host", help="Where the desk listens (default this machine only; elsewhere: a warning)."
    ),
    desk_port: int = typer.Option(0, "--desk-port", min=0, max=65535, help="The desk's port (default: a free one)."),
    enqueue: bool = typer.Option(
        False, "--enqueue",
        help="Queue the suppliers for `chorus-bot worker` on any machine (CHORUS_STATE_DB must be postgresql://).",
    ),
) -> None:
    """Register every supplier of a CSV/XLSX file; resumable, one browser, progress bar."""
    from bot.batchfile import BatchFileError, read_batch
    from bot.flows.batch import run_batch
    from bot.runtemp import run_temp_dir

    if enqueue:
        _enqueue(file, retry_failed, {"--concurrency": concurrency is not None, "--report": report is not None,
                                      "--desk": desk, "--wait-lock": wait_lock, "--dry-run": OPTS.dry_run})
    try:
        settings = load_settings()
        settings.require(*REQUIRED_SETTINGS)
    except ConfigError as exc:
        raise fail_config(exc) from None
    if report is not None and report.suffix.lower() not in REPORT_SUFFIXES:
        raise fail_config(ValueError(f"--report {report}: the name must end in .json, .csv or .html"))
    try:
        batch_input = read_batch(file)
    except BatchFileError as exc:
        raise fail_config(exc) from None
    err = Console(stderr=True)
    for error in batch_input.errors:
        err.print(f"bad row: {error}", highlight=False, markup=False)
    try:
        # Playwright's and Chromium's temporary files: private, removed, swept; `--desk`'s page around the run
        with run_temp_dir(), _desk(settings, desk, desk_host, desk_port, batch_input.suppliers, err) as web_desk:
            run = run_batch(
                settings,
                batch_input.suppliers,
                concurrency=concurrency,
                retry_failed=retry_failed,
                report_path=report,
                dry_run=OPTS.dry_run,
                wait_lock=wait_lock,
                row_errors=batch_input.errors,
                headless=False if OPTS.headed else None,
                slow_mo=OPTS.slow_mo or None,
                web_desk=web_desk,
            )
    except ConfigError as exc:
        raise fail_config(exc) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: the next run resumes where this one stopped", err=True)
        raise typer.Exit(130) from None
    raise typer.Exit(run.exit_code)


def _enqueue(file: Path, retry_failed: bool, refused: dict[str, bool]) -> None:
    """`batch FILE --enqueue`: the file's suppliers become jobs for the workers; exits."""
    from bot.batchfile import BatchFileError, read_batch
    from bot.flows.batch import row_error_result
    from bot.jobqueue import enqueue, finish_if_complete
    from bot.journal import Journal
    from bot.report_html import run_settings
    from bot.runs import new_run_id

    for option, given in refused.items():
        if given:
            where = "each worker's (chorus-bot worker --concurrency N)" if option == "--concurrency" else "not for a queued batch"
            raise fail_config(ValueError(f"{option} with --enqueue: that option is {where}"))
    try:
        settings = load_settings()
        if not settings.uses_postgres:
            raise ConfigError("CHORUS_STATE_DB: --enqueue needs a postgresql:// URL (the queue lives in PostgreSQL)")
        batch_input = read_batch(file)
    except (ConfigError, BatchFileError) as exc:
        raise fail_config(exc) from None
    err = Console(stderr=True)
    for error in batch_input.errors:
        err.print(f"bad row: {error}", highlight=False, markup=False)
    url = str(settings.state_db)
    run_id = new_run_id()
    lines = [(line, supplier) for line, supplier in batch_input.suppliers]
    lines += [(error.line, row_error_result(error)) for error in batch_input.errors]
    lines.sort(key=lambda pair: pair[0])
    try:
        with Journal(url) as journal:
            settings_shown = run_settings(settings, settings.concurrency, False)
            settings_shown["Concurrency"] = "per worker"
            journal.start_run(run_id, settings_shown)
            queued = enqueue(url, journal, run_id, lines, retry_failed)
            if not queued.queued:
                finish_if_complete(url, journal, run_id)
    except ConfigError as exc:
        raise fail_config(exc) from None
    console = Console()
    console.print(
        f"batch {run_id}: {len(queued.queued)} supplier(s) queued, {queued.final} already final in the journal,"
        f" {len(queued.already_queued)} already queued by another batch, {len(batch_input.errors)} bad row(s)",
        highlight=False, soft_wrap=True,
    )
    if queued.queued:
        console.print("run them: chorus-bot worker [--concurrency N], on as many machines as you like;"
                      f" follow: chorus-bot status; report: chorus-bot report --run {run_id}",
                      highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_OK)


@contextlib.contextmanager
def _desk(settings: Settings, wanted: bool, host: str, port: int, suppliers, err: Console) -> Iterator["WebDesk | None"]:
    """The captcha desk around the run (`--desk`), its address printed; else None."""
    if not wanted:
        yield None
        return
    from bot.desk import WebDesk

    desk = WebDesk(settings, host=host, port=port, suppliers=[supplier for _, supplier in suppliers])
    with desk.serving():
        if not desk.local:
            err.print(f"warning: the captcha desk listens on {host}, not only on this machine: whoever reaches"
                      " it with its address can see the suppliers waiting and answer for them, over plain HTTP",
                      highlight=False, markup=False, soft_wrap=True)
        Console().print(f"captcha desk: {desk.url}", highlight=False, markup=False, soft_wrap=True)
        yield desk


@app.command()
def status(
    siret: Optional[str] = typer.Option(None, "--siret", help="Only this supplier, with every detail."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table (for scripts)."),
) -> None:
    """What the journal knows: one row per supplier (works while a batch runs)."""
    from bot.journal import RUNNING, Journal, RunLock, journal_exists, shown_state_db
    from bot.secrets import registry
    from bot.siret import normalise_siret

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise fail_config(exc) from None
    db = settings.state_db
    if not journal_exists(db):
        typer.echo(f"no journal at {shown_state_db(db)} yet: no batch or registration has run with this CHORUS_STATE_DB")
        raise typer.Exit(EXIT_OK)
    live = bool(RunLock(db).holder())  # a batch, or (PostgreSQL) workers
    with Journal(db) as journal:
        entries = journal.all()
    if siret is not None:
        wanted = normalise_siret(siret)
        entries = [e for e in entries if e.siret == wanted]
        if not entries:
            typer.echo(f"SIRET {wanted} is not in the journal {shown_state_db(db)}", err=True)
            raise typer.Exit(EXIT_BUSINESS)

    def shown_status(entry) -> str:
        if entry.status != RUNNING:
            return entry.status
        return "running" if live else "interrupted"

    rows = [
        {
            "siret": e.siret, "email": e.email, "status": shown_status(e), "checkpoint": e.checkpoint.value,
            "step": e.step, "attempts": e.attempts, "run_id": e.run_id,
            "started_at": _iso(e.started_at), "updated_at": _iso(e.updated_at), "finished_at": _iso(e.finished_at),
            "message": registry.mask(e.message or ""), "last_error": registry.mask(e.last_error or ""),
            "trace": e.trace, "artifacts": e.artifacts,
        }
        for e in entries
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    # Off a terminal (a pipe, a mail from cron) rich assumes 80 columns: give the table room.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    if siret is not None:
        for key, value in rows[0].items():
            console.print(f"{key}: {value if value not in (None, '', []) else '-'}", highlight=False, markup=False)
        return
    table = Table(title=f"Journal {shown_state_db(db)}" + (" (a run is going)" if live else ""))
    for column in ("SIRET", "Login email", "Status", "Checkpoint", "Step", "Attempts", "Updated (UTC)", "Message"):
        table.add_column(column, overflow="fold")
    for row in rows:
        why = row["last_error"] if row["status"] in ("failed", "running", "interrupted") and row["last_error"] else row["message"]
        updated = (row["updated_at"] or "")[:19].replace("T", " ")
        table.add_row(
            row["siret"], row["email"], row["status"], row["checkpoint"], row["step"] or "",
            str(row["attempts"]), updated, why,
        )
    console.print(table)
    console.print(_counts_line(rows), highlight=False)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _counts_line(rows: list[dict]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return f"{len(rows)} supplier(s): " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


@app.command()
def demo(
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=16, help="Suppliers in flight at once."),
) -> None:
    """Start the sandbox and its mail server, register fixtures/suppliers.csv, print the report."""
    import fixtures
    from fixtures.portal.server import Sandbox, SandboxError

    from bot.batchfile import read_batch
    from bot.flows.batch import run_batch
    from bot.report import results_table
    from bot.runtemp import run_temp_dir

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = Path("artifacts") / f"demo-{stamp}"
    batch_input = read_batch(Path(fixtures.__file__).parent / "suppliers.csv")
    try:
        sandbox = Sandbox().start()
    except SandboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    console = Console()
    try:
        console.print(f"sandbox portal: {sandbox.url} (mail server: Dovecot, shared mailbox {sandbox.env['CHORUS_IMAP_USER']})")
        settings = _demo_settings(sandbox.env, folder)
        with run_temp_dir():  # after the sandbox started: its Dovecot keeps the usual temporary folder
            run = run_batch(
                settings, batch_input.suppliers, concurrency=concurrency, report_path=folder / "report.json",
                row_errors=batch_input.errors, dry_run=OPTS.dry_run,
                headless=False if OPTS.headed else None, slow_mo=OPTS.slow_mo or None, console=console,
            )
    except ConfigError as exc:
        raise fail_config(exc) from None
    finally:
        sandbox.stop()
    console.print(results_table(run.results, title="Demo report"))
    console.print(f"journal: CHORUS_STATE_DB={settings.state_db} chorus-bot status", highlight=False)
    trace = next((r.trace for r in run.results if r.trace), None)
    if trace:
        console.print(f"open a trace: playwright show-trace {trace}", highlight=False)
    raise typer.Exit(run.exit_code)


def _demo_settings(sandbox_env: dict[str, str], folder: Path) -> Settings:
    """The sandbox's settings over the user's; a fresh journal per demo; every attempt traced."""
    overrides = fields_from_env(sandbox_env)
    overrides["state_db"] = folder / "state.sqlite3"
    overrides["artifacts_dir"] = folder / "artifacts"
    overrides["trace"] = "on"
    return load_settings(**overrides)
