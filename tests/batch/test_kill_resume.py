"""A batch killed with SIGKILL at any instant resumes without creating anything twice, and two
runs on one journal never overlap.

The kill points are observed, not injected: the test watches the journal (SQLite, read
while the bot writes) and the sandbox's state, and sends SIGKILL to the bot the moment the
wanted situation exists. Latency and a mail delay on the sandbox widen the windows.
"""
from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime, timezone

import pytest

from batchtools import (
    FRENCH_HEADER,
    Watch,
    accounts_by_email,
    chromium_browsers,
    emails_of,
    kill_when,
    supplier_rows,
    wait_gone,
    write_csv,
)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_sigkill_at_six_points_then_resume_registers_every_supplier_once(bot, portal, tmp_path):
    rows = supplier_rows(12, "kill")
    emails = [e.lower() for e in emails_of(rows)]
    path = write_csv(tmp_path / "fournisseurs.csv", FRENCH_HEADER, rows, encoding="utf-8-sig")
    portal.knobs(latency_ms=700, mail_delay_ms=1500)
    bot.env["CHORUS_TRACE"] = "off"  # tracing costs CPU, and a killed attempt never saves its trace

    def journal():
        return {e.email.lower(): e for e in bot.journal()}

    def accounts():
        return accounts_by_email(portal.state())

    run_started = [datetime.now(timezone.utc)]

    def running_at(checkpoint, account_status=None):
        """The email of a supplier of the current run at ``checkpoint`` while the portal shows
        ``account_status``; None if there is none. (Entries left "running" by an earlier kill
        do not count: the bot itself must reach the point.)"""
        entries, by_email = journal(), accounts()
        for email, entry in entries.items():
            if entry.status != "running" or entry.checkpoint.value != checkpoint:
                continue
            if entry.updated_at is None or entry.updated_at < run_started[0]:
                continue
            portal_status = by_email[email][0]["status"] if email in by_email else None
            if portal_status == account_status:
                return email
        return None

    kill_points = [
        ("steps 1-2 under way", lambda: running_at("new")),
        ("write-ahead done, step-3 Validate not yet processed", lambda: running_at("creating_account", None)),
        ("between step 3 and step 4: account created, step 4 not seen", lambda: running_at("creating_account", "pending")),
        ("waiting for the activation mail", lambda: running_at("account_created", "pending")),
        ("credentials stored, activation Validate under way", lambda: running_at("activating", "pending")),
        ("activated on the portal, not yet in the journal", lambda: running_at("activating", "active")),
    ]
    killed_at: dict[str, str] = {}  # kill point -> the supplier found there
    for what, condition in kill_points:
        run_started[0] = datetime.now(timezone.utc)
        process = bot.start("batch", str(path), "--concurrency", "4")

        def reached(condition=condition, what=what) -> bool:
            email = condition()
            if email:
                killed_at[what] = email
            return bool(email)

        started = kill_when(process, reached, what=what)
        assert wait_gone(started) == set(), f"processes outlived the bot killed at '{what}' (orphan Chromium?)"
    assert len(killed_at) == len(kill_points)
    # No run holds the journal now: what the killed run left in flight shows as interrupted.
    assert "interrupted" in {row["status"] for row in bot.status_json()}
    created_before_final = {email for email, accs in accounts().items() if email in emails}
    assert killed_at["between step 3 and step 4: account created, step 4 not seen"] in created_before_final
    portal.knobs(latency_ms=0, mail_delay_ms=0)  # the slow pages were for the kill windows only
    done = bot.run("batch", str(path), "--concurrency", "4", "--report", str(tmp_path / "final.json"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]

    report = {r["email"].lower(): r for r in json.loads((tmp_path / "final.json").read_text())}
    assert sorted(report) == sorted(emails)
    assert {r["status"] for r in report.values()} == {"activated"}
    state = portal.state()
    by_email = accounts_by_email(state)
    for email, row in zip(emails, rows):
        [account] = by_email[email]  # exactly one account per email
        assert account["status"] == "active" and account["activated_at"]
        siret = row[0].replace(" ", "")
        assert [s["manager_email"].lower() for s in state["structures"] if s["siret"] == siret] == [email]
    assert state["join_requests"] == []
    entries = journal()
    assert {(e.status, e.checkpoint.value) for e in entries.values()} == {("activated", "done")}
    for what, email in killed_at.items():
        assert report[email]["status"] == "activated", what
        assert report[email]["attempts"] >= 2, f"{what}: {email} was resumed, not started afresh"
    status = {row["email"].lower(): row["status"] for row in bot.status_json()}
    assert status == {email: "activated" for email in emails}

    # And once more: nothing to do.
    hits = len(portal.state()["hits"])
    again = bot.run("batch", str(path))
    assert again.returncode == 0
    assert len(portal.state()["hits"]) == hits


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_runs_on_one_journal_never_overlap(bot, portal, tmp_path):
    rows = supplier_rows(4, "lock", start=20)
    path = write_csv(tmp_path / "lock.csv", FRENCH_HEADER, rows, encoding="cp1252")
    portal.knobs(latency_ms=300)
    first = bot.start("batch", str(path), "--concurrency", "2")
    third = None
    try:
        deadline = time.monotonic() + 120
        while not any(e.status == "running" for e in bot.journal()):
            assert first.poll() is None and time.monotonic() < deadline, "the first run never started"
            time.sleep(0.1)
        # `status` reads the journal while the batch writes it.
        assert "running" in {row["status"] for row in bot.status_json()}
        second = bot.run("batch", str(path), timeout=120)
        assert second.returncode == 0
        assert "another run holds the journal" in second.stdout and "not starting" in second.stdout
        third = bot.start("batch", str(path), "--wait-lock")
        out, err = first.communicate(timeout=600)
        assert first.returncode == 0, err[-3000:]
        out3, err3 = third.communicate(timeout=300)
    finally:
        for process in (first, third):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()
    assert third.returncode == 0, err3[-3000:]
    flat = " ".join(out3.split())
    assert "waiting for it to end" in flat and "0 supplier(s) to run, 4 already final" in flat
    by_email = accounts_by_email(portal.state())
    assert [len(by_email[e.lower()]) for e in emails_of(rows)] == [1, 1, 1, 1]
    assert {by_email[e.lower()][0]["status"] for e in emails_of(rows)} == {"active"}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_chromium_crash_mid_batch_is_a_technical_fault_retried_in_a_new_browser(bot, portal, sandbox, tmp_path):
    rows = supplier_rows(4, "crash", start=10)
    path = write_csv(tmp_path / "crash.csv", FRENCH_HEADER, rows, encoding="utf-8-sig")
    portal.knobs(latency_ms=300)
    process = bot.start("batch", str(path), "--concurrency", "2", "--report", str(tmp_path / "r.json"))
    try:
        with Watch(process.pid, sandbox.mail.imaps_port, bot.state_db) as watch:
            deadline = time.monotonic() + 120
            # A supplier is in the browser, past the home page (the batch launches Chromium
            # before its first supplier: a kill before any page would cost nobody an attempt).
            while not any(hit["path"] == "/account/new" for hit in portal.state()["hits"]):
                assert process.poll() is None and time.monotonic() < deadline, "the batch never started"
                time.sleep(0.1)
            [browser] = chromium_browsers(process.pid)
            os.kill(browser, signal.SIGKILL)
            out, err = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, out[-2000:] + err[-4000:]
    assert watch.max_browsers == 1, watch.browsers_seen  # a new Chromium replaced the dead one; never two at once
    report = json.loads((tmp_path / "r.json").read_text())
    assert {r["status"] for r in report} == {"activated"}
    assert max(r["attempts"] for r in report) >= 2  # the suppliers in flight were retried
    by_email = accounts_by_email(portal.state())
    assert [len(by_email[e.lower()]) for e in emails_of(rows)] == [1, 1, 1, 1]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigterm_lets_the_suppliers_in_flight_finish_and_starts_no_other(bot, portal, tmp_path):
    rows = supplier_rows(5, "term", start=14)
    path = write_csv(tmp_path / "term.csv", FRENCH_HEADER, rows, encoding="utf-8-sig")
    portal.knobs(latency_ms=300)
    process = bot.start("batch", str(path), "--concurrency", "2", "--report", str(tmp_path / "r.json"))
    try:
        deadline = time.monotonic() + 120
        while sum(e.status == "running" for e in bot.journal()) < 2:
            assert process.poll() is None and time.monotonic() < deadline, "the batch never started"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)  # what `systemctl stop` sends
        out, err = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 3, out[-2000:] + err[-3000:]  # suppliers remain to do
    assert "no new supplier starts" in out
    report = json.loads((tmp_path / "r.json").read_text())
    done = [r for r in report if r["status"] == "activated"]
    not_started = [r for r in report if r["message"].startswith("not started")]
    assert len(done) == 2 and len(not_started) == 3, report
    assert len(bot.journal()) == 2  # the others were never started

    again = bot.run("batch", str(path), "--report", str(tmp_path / "r2.json"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert {r["status"] for r in json.loads((tmp_path / "r2.json").read_text())} == {"activated"}
    by_email = accounts_by_email(portal.state())
    assert [len(by_email[e.lower()]) for e in emails_of(rows)] == [1] * 5
