"""Helpers of the fault suite: a fresh batch of suppliers, the run, and the checks every fault
ends with (journal, report, `chorus-bot status` and the sandbox agree; no secret written).

Every batch gets e-mail addresses no earlier test used (``ap+<fault>-<hex>-<n>@``): the
sandbox is reset between tests, but the shared mailbox keeps every mail ever delivered.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from batchtools import FRENCH_HEADER, Bot, accounts_by_email, emails_of, supplier_rows, write_csv
from secret_scan import activation_links, scan

from bot.credentials import CredentialStore

BATCH_SIZE = 10


@dataclass
class Batch:
    """A batch file of ``BATCH_SIZE`` good suppliers, and where its run writes."""

    folder: Path
    rows: list[list[str]]
    path: Path

    @property
    def emails(self) -> list[str]:
        return [e.lower() for e in emails_of(self.rows)]

    @property
    def sirets(self) -> dict[str, str]:
        """SIRET (digits only) by login email."""
        return {row[1].lower(): row[0].replace(" ", "") for row in self.rows}

    @property
    def report_path(self) -> Path:
        return self.folder / "report.json"

    def report(self) -> dict[str, dict]:
        return {row["email"].lower(): row for row in json.loads(self.report_path.read_text())}


def fresh_batch(folder: Path, fault: str, count: int = BATCH_SIZE) -> Batch:
    """``count`` suppliers with e-mail addresses never used before, in ``folder/<fault>.csv``."""
    return batch_of(folder, fault, supplier_rows(count, f"{fault}-{uuid.uuid4().hex[:6]}"))


def batch_of(folder: Path, name: str, rows: list[list[str]]) -> Batch:
    folder.mkdir(parents=True, exist_ok=True)
    return Batch(folder, rows, write_csv(folder / f"{name}.csv", FRENCH_HEADER, rows, encoding="utf-8-sig"))


def run_batch(bot: Bot, batch: Batch, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    """`chorus-bot batch FILE --report report.json ARGS`; its output is kept beside (for the scan)."""
    done = bot.run("batch", str(batch.path), "--report", str(batch.report_path), *args, timeout=timeout)
    runs = len(list(batch.folder.glob("stdout-*.txt")))
    (batch.folder / f"stdout-{runs}.txt").write_text(done.stdout)
    (batch.folder / f"stderr-{runs}.txt").write_text(done.stderr)
    return done


def explain(done: subprocess.CompletedProcess, batch: Batch | None = None) -> str:
    """What a person reads first when a run ended otherwise than expected."""
    text = f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    if batch is not None and batch.report_path.exists():
        rows = [f"{r['status']} after {r['attempts']}: {r['email']}: {r['message']}" for r in batch.report().values()]
        text = "\n".join(rows) + "\n" + text
    return text


def assert_agree(bot: Bot, portal, batch: Batch, expected: dict[str, str] | str = "activated") -> dict[str, dict]:
    """Report, journal, `chorus-bot status` and the sandbox tell the same story.

    ``expected``: the status of every supplier (one for all, or by email). An activated
    supplier has exactly one active account and is its structure's manager; a pending one
    exactly one pending account; any other none. Returns the report by email.
    """
    want = expected if isinstance(expected, dict) else {email: expected for email in batch.emails}
    report = batch.report()
    assert {email: row["status"] for email, row in report.items()} == want, [
        (row["email"], row["status"], row["message"]) for row in report.values() if row["status"] != want.get(row["email"].lower())
    ]
    journal = {entry.email.lower(): entry for entry in bot.journal()}
    shown = {row["email"].lower(): row for row in bot.status_json()}
    state = portal.state()
    accounts = accounts_by_email(state)
    for email, status in want.items():
        row, entry = report[email], journal.get(email)
        if entry is None:  # never started (e.g. the run stopped before it)
            assert status == "failed" and row["message"].startswith("not started"), (email, row)
            assert email not in shown and email not in accounts, email
            continue
        assert (entry.status, entry.attempts) == (status, row["attempts"]), (email, entry.status, row)
        assert shown[email]["status"] == status and shown[email]["attempts"] == entry.attempts, shown[email]
        mine = accounts.get(email, [])
        if status == "activated":
            assert entry.checkpoint.value == "done", (email, entry.checkpoint)
            assert [a["status"] for a in mine] == ["active"], (email, mine)
            siret = batch.sirets[email]
            assert [s["manager_email"].lower() for s in state["structures"] if s["siret"] == siret] == [email]
        elif status == "pending_activation":
            assert [a["status"] for a in mine] == ["pending"], (email, mine)
        else:
            assert mine == [], (email, mine)
    assert state["join_requests"] == []
    return report


def assert_no_secret(bot: Bot, sandbox, batch: Batch) -> None:
    """No form of any secret of the run in any file it wrote (state DB, logs, artifacts, traces,
    their zip members, the report, its own output): the chosen passwords and answers, the
    activation links and their tokens, the IMAP passwords (the bot's and the server's) and
    SECRET_KEY."""
    store = CredentialStore(bot.state_db, bot.env["CHORUS_SECRET_KEY"])
    stored = [c for c in (store.get(siret) for siret in batch.sirets.values()) if c is not None]
    links = activation_links(sandbox, set(batch.emails))
    tokens = [parse_qs(urlsplit(link).query)["token"][0] for link in links]
    secrets = [s for c in stored for s in (c.password, c.answer)] + links + tokens
    secrets += [bot.env["CHORUS_SECRET_KEY"], bot.env["CHORUS_IMAP_PASSWORD"], sandbox.mail.password]
    assert scan(batch.folder, *secrets) == []


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether ``condition()`` came to hold within ``timeout`` s (checked every 0.1 s, as an
    outside observer of the journal or the sandbox's state would)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _holds(condition):
            return True
        time.sleep(0.1)  # polling interval of an outside observer, not a wait for a page
    return False


def when(condition: Callable[[], bool], then: Callable[[], None], *, timeout: float = 300) -> threading.Thread:
    """A thread that runs ``then()`` once ``condition()`` holds: the fault is injected the
    moment the run reaches the wanted situation, as an operator would see it happen."""

    def watch() -> None:
        if wait_until(condition, timeout):
            then()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _holds(condition: Callable[[], bool]) -> bool:
    try:
        return condition()
    except sqlite3.Error:  # the bot is creating its journal at that very moment: look again
        return False


def journal_has(bot: Bot, *, status: str | None = None, checkpoint: str | None = None) -> Callable[[], bool]:
    """A condition: some supplier of the journal has this status / checkpoint."""

    def holds() -> bool:
        return any(
            (status is None or e.status == status) and (checkpoint is None or e.checkpoint.value == checkpoint)
            for e in bot.journal()
        )

    return holds
