"""`chorus-bot batch` against the live portal's account-first journey (portal.md, "The live
portal's journey today"): the user account (captcha, activation mail, password), the log-in
with a mailed one-time code, then the structure.

The captcha is answered by the test solver (tests/bot/captcha_solver.py), which reads the
sandbox's latest image: one sign-up at a time (CHORUS_CONCURRENCY=1).

A batch SIGKILLed at each checkpoint of the journey (bot.journal, "account first") resumes
without creating anything twice. As in test_kill_resume.py, the kill points are observed, not
injected: the test reads the journal while the bot writes it, and the sandbox's state.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pytest

from batchtools import BOT, FRENCH_HEADER, Bot, accounts_by_email, descendants, supplier_rows, wait_gone, write_csv
from bot.journal import JournalEntry
from bot.models import DEFAULT_AREAS, LOCKED_AREAS


@pytest.fixture
def af_bot(af_env, tmp_path) -> Bot:
    """`chorus-bot` pointed at the account-first sandbox, one supplier at a time."""
    env = {**os.environ, **af_env, "CHORUS_RETRY_BACKOFF_S": "0.5", "CHORUS_LOG_LEVEL": "INFO",
           "CHORUS_CONCURRENCY": "1"}
    return Bot(env=env, cwd=tmp_path)


AREAS = FRENCH_HEADER.index("Espaces")
# What a row's "Espaces" may say (English or French names, as the batch file accepts), and the
# areas (English, as the sandbox's state and the report name them) it asks for.
ASKED = {
    "": set(),
    "Work invoices|Commitments": {"Work invoices", "Commitments"},
    "Factures reçues": {"Received invoices"},
    "Engagements;Factures de travaux": {"Commitments", "Work invoices"},
}


def asked_areas(row: list[str]) -> set[str]:
    """The work areas a FRENCH_HEADER row asks for, on top of the portal's defaults."""
    return ASKED[row[AREAS]]


def with_areas(rows: list[list[str]]) -> list[list[str]]:
    """The rows, each asking for the areas of ASKED in turn (the first none)."""
    choices = list(ASKED)
    for i, row in enumerate(rows):
        row[AREAS] = choices[i % len(choices)]
    return rows


def assert_registered_once(state: dict, rows: list[list[str]], reported_areas: dict[str, set[str]],
                           language: str | None = None) -> None:
    """Each row's email has exactly one active account, holding its SIRET and the areas asked (as
    the report says too), and its SIRET exactly one structure, managed by that account; no join
    request."""
    by_email = accounts_by_email(state)
    for row in rows:
        siret, email = row[0].replace(" ", ""), row[1].lower()
        assert len(by_email.get(email, [])) == 1, (email, by_email.get(email))
        [account] = by_email[email]
        assert account["status"] == "active" and account["activated_at"], account
        assert account["siret"] == siret and account["primary_manager"], account
        assert set(account["areas"]) == set(DEFAULT_AREAS) | set(LOCKED_AREAS) | asked_areas(row), account
        assert reported_areas[email] == set(account["areas"]), (email, reported_areas[email])
        if language is not None:
            assert account["lang"] == language, account
        managers = [s["manager_email"].lower() for s in state["structures"] if s["siret"] == siret]
        assert managers == [email], (siret, managers)
    assert state["join_requests"] == []


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_batch_of_three_signs_up_logs_in_and_creates_each_structure(af_bot, af_portal, tmp_path, language):
    rows = with_areas(supplier_rows(3, f"af-{language}-{uuid.uuid4().hex[:6]}", start=0 if language == "en" else 3))
    path = write_csv(tmp_path / "fournisseurs.csv", FRENCH_HEADER, rows, encoding="utf-8-sig")
    af_bot.env["CHORUS_LANGUAGE"] = language

    done = af_bot.run("batch", str(path), "--report", str(tmp_path / "report.csv"), timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]

    with (tmp_path / "report.csv").open(encoding="utf-8", newline="") as f:
        report = {row["email"].lower(): row for row in csv.DictReader(f)}
    assert sorted(report) == sorted(row[1].lower() for row in rows)
    assert {row["status"] for row in report.values()} == {"activated"}, report
    for row in rows:
        assert report[row[1].lower()]["siret"] == row[0].replace(" ", "")
    areas = {email: set(row["areas"].split("|")) for email, row in report.items()}
    assert_registered_once(af_portal.state(), rows, areas, language)

    journal = af_bot.journal()
    assert {(e.status, e.checkpoint.value) for e in journal} == {("activated", "done")}
    (run_id,) = {e.run_id for e in journal}
    html = Path(af_bot.env["CHORUS_ARTIFACTS_DIR"]) / run_id / "report.html"
    assert f"HTML report: {html}" in " ".join(done.stdout.split())
    assert html.is_file() and all(row[1] in html.read_text() for row in rows)
    status = {row["email"].lower(): row["status"] for row in af_bot.status_json()}
    assert status == {row[1].lower(): "activated" for row in rows}


# -- kill -9 at each checkpoint of the journey, then resume ----------------------------------------


def start_in_own_group(bot: Bot, log: Path, *args: str) -> subprocess.Popen:
    """`chorus-bot` in a process group of its own, its output into ``log`` (a pipe nobody reads
    could fill and stall it). SIGKILL to the group reaches the bot, its Playwright driver and a
    captcha command in flight; Chromium, which Playwright starts in a group of its own, must end
    with them (the test checks it)."""
    with log.open("w") as out:
        return subprocess.Popen([BOT, *args], cwd=bot.cwd, env=bot.env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def kill_group_when(process: subprocess.Popen, condition: Callable[[], bool], log: Path, *,
                    timeout: float, what: str) -> set[int]:
    """SIGKILL the bot's process group once ``condition()`` holds; the processes it had started
    (looked up every half second: its browser lives long, and a scan of /proc is not free)."""
    deadline = time.monotonic() + timeout
    started: set[int] = set()
    scanned = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() - scanned >= 0.5:
            started |= descendants(process.pid)
            scanned = time.monotonic()
        if process.poll() is not None:
            raise AssertionError(f"the bot ended (exit {process.returncode}) before the kill point "
                                 f"'{what}':\n{log.read_text()[-5000:]}")
        if condition():
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            return started
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    raise AssertionError(f"kill point '{what}' never reached in {timeout:g} s:\n{log.read_text()[-5000:]}")


@dataclass(frozen=True)
class KillPoint:
    """Kill when a supplier of the current run is at ``checkpoint`` while the portal shows its
    account ``account`` (None: no account) and its structure created or not (and, if
    ``mail_delivered`` is not None, its activation mail delivered or not): the portal's state
    tells which side of the checkpoint's click the kill fell on.

    ``knobs`` and ``slow_mo_ms`` (`--slow-mo`) widen the window. The portal drops a request whose
    client is gone, and its latency comes before it acts: so the window between a click that went
    through and the next checkpoint is the bot's own time to see the next screen, which slow-mo
    stretches."""

    checkpoint: str
    account: str | None
    structure: bool = False
    mail_delivered: bool | None = None
    knobs: dict = field(default_factory=dict)
    slow_mo_ms: int = 0


KILL_POINTS = (
    # "Create my account" went through; the bot never saw "Your account has been created".
    KillPoint("requesting_user_account", "pending", slow_mo_ms=200),
    # Waiting for the activation mail, which comes while no bot runs.
    KillPoint("user_account_created", "pending", mail_delivered=False, knobs={"mail_delay_ms": 3000}),
    # The activation's "Submit" went through; "Your account is activated" not seen.
    KillPoint("setting_password", "active", slow_mo_ms=100),
    # On the way to the log-in.
    KillPoint("password_set", "active"),
    # Logged in; the structure being searched for.
    KillPoint("logged_in", "active", knobs={"autofill_delay_ms": 1500}),
    # The work areas' "Validate" went through: the structure exists, the journal not yet done.
    KillPoint("creating_structure", "active", structure=True, slow_mo_ms=100),
)
RUNS_PER_KILL_POINT = 3  # a kill that lands a moment late (the journal moved on) is tried again


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigkill_at_each_checkpoint_then_resume_creates_each_account_and_structure_once(af_bot, af_portal, tmp_path):
    rows = with_areas(supplier_rows(5, f"af-kill-{uuid.uuid4().hex[:6]}", start=6))
    emails = [row[1].lower() for row in rows]
    path = write_csv(tmp_path / "fournisseurs.csv", FRENCH_HEADER, rows, encoding="utf-8-sig")
    # Tracing costs CPU, and a killed attempt never saves its trace: off until the last run.
    af_bot.env.update(CHORUS_IMAP_POLL_S="1", CHORUS_TRACE="off")

    def situation(point: KillPoint, since: datetime) -> JournalEntry | None:
        """A supplier the run started at ``since`` brought to ``point``: the journal first (cheap,
        read often), then the portal, then the journal again (the checkpoint had not moved on)."""
        def at_checkpoint() -> dict[str, JournalEntry]:
            return {e.email.lower(): e for e in af_bot.journal()
                    if e.status == "running" and e.checkpoint.value == point.checkpoint
                    and e.updated_at is not None and e.updated_at >= since}

        if not at_checkpoint():
            return None
        state = af_portal.state()
        accounts = accounts_by_email(state)
        delivered = {m["to"].lower() for m in state["mails"] if m["kind"] == "activation" and m["delivered_at"]}
        for email, entry in at_checkpoint().items():
            [account] = accounts.get(email, [None])
            shown = (account["status"] if account else None), bool(account and account["siret"])
            if shown == (point.account, point.structure) \
                    and point.mail_delivered in (None, email in delivered):
                return entry
        return None

    killed: dict[str, str] = {}  # checkpoint -> the email of the supplier killed there
    runs: list[str] = []
    for point in KILL_POINTS:
        af_portal.knobs(**{"latency_ms": 0, "mail_delay_ms": 0, "autofill_delay_ms": 300, **point.knobs})
        for _ in range(RUNS_PER_KILL_POINT):
            since = datetime.now(timezone.utc)
            log = tmp_path / f"run-{len(runs)}-{point.checkpoint}.log"
            process = start_in_own_group(af_bot, log, "--slow-mo", str(point.slow_mo_ms), "batch", str(path))
            found: list[JournalEntry] = []

            def reached(point=point, since=since, found=found) -> bool:
                entry = situation(point, since)
                if entry is not None:
                    found.append(entry)
                return entry is not None

            started = kill_group_when(process, reached, log, timeout=240, what=point.checkpoint)
            assert wait_gone(started) == set(), f"processes outlived the bot killed at '{point.checkpoint}'"
            after = {e.email.lower(): e for e in af_bot.journal()}[found[-1].email.lower()]
            runs.append(f"{point.checkpoint}: {after.email} at {after.checkpoint.value}")
            if after.checkpoint.value == point.checkpoint:  # not moved on between the look and the kill
                killed[point.checkpoint] = after.email.lower()
                break
    assert list(killed) == [point.checkpoint for point in KILL_POINTS], runs
    # No run holds the journal now: the supplier the last run left in flight shows as interrupted.
    assert "interrupted" in {row["status"] for row in af_bot.status_json()}

    af_portal.knobs(latency_ms=0, mail_delay_ms=0, autofill_delay_ms=300)
    af_bot.env.pop("CHORUS_TRACE")
    final = af_bot.run("batch", str(path), "--report", str(tmp_path / "final.json"), timeout=400)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-5000:]

    report = {r["email"].lower(): r for r in json.loads((tmp_path / "final.json").read_text())}
    assert sorted(report) == sorted(emails)
    assert {r["status"] for r in report.values()} == {"activated"}, report
    for checkpoint, email in killed.items():
        assert report[email]["attempts"] >= 2, f"{checkpoint}: {email} was resumed, not started afresh"
    state = af_portal.state()
    assert_registered_once(state, rows, {email: set(r["areas"]) for email, r in report.items()})
    assert len(state["structures"]) == len(rows) + 2  # the seed's two, and one per supplier
    activation_mails = [m["to"].lower() for m in state["mails"] if m["kind"] == "activation"]
    assert sorted(activation_mails) == sorted(emails), "one activation mail per account: no sign-up twice"
    assert {(e.status, e.checkpoint.value) for e in af_bot.journal()} == {("activated", "done")}
    status = {row["email"].lower(): row["status"] for row in af_bot.status_json()}
    assert status == {email: "activated" for email in emails}

    # And once more: nothing to do, the portal is not visited.
    hits = len(af_portal.state()["hits"])
    again = af_bot.run("batch", str(path), timeout=120)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert len(af_portal.state()["hits"]) == hits
