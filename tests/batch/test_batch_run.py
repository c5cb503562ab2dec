"""`chorus-bot batch` as a shared-service centre runs it: French Excel files, 20+ suppliers,
4 in flight in one Chromium, one IMAP connection, bad rows reported, a report and a status
that agree with what the portal shows, and a second run that does nothing."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from batchtools import (
    ACTIVE,
    EXISTING,
    FRENCH_HEADER,
    NON_DIFFUSIBLE,
    Watch,
    accounts_by_email,
    spaced,
    supplier_rows,
    write_csv,
)


def test_a_bad_file_exits_2_with_one_line_and_starts_nothing(bot, tmp_path):
    missing = bot.run("batch", str(tmp_path / "absent.csv"))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "cannot read" in missing.stderr
    no_phone = write_csv(
        tmp_path / "no-phone.csv", ["SIRET", "Courriel", "Prénom", "Nom"], [[ACTIVE[0][0], "a@b.example", "A", "B"]],
        encoding="cp1252",
    )
    done = bot.run("batch", str(no_phone))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {no_phone}: missing required column 'phone' " \
        "(also accepted: phone number, téléphone, telephone, numéro de téléphone, tel, tél)"
    good = write_csv(tmp_path / "ok.csv", FRENCH_HEADER, supplier_rows(1, "x"), encoding="utf-8-sig")
    bad_report = bot.run("batch", str(good), "--report", str(tmp_path / "report.txt"))
    assert bad_report.returncode == 2 and "must end in .json, .csv or .html" in bad_report.stderr
    assert not bot.state_db.exists(), "nothing may start before the file and options are known good"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_french_excel_batch_of_22_at_concurrency_4(bot, portal, sandbox, tmp_path):
    good = supplier_rows(22, "big")
    bad_checksum = [spaced(ACTIVE[0][0])[:-1] + "8"] + good[0][1:2] + ["Zoé", "Faux", "0102030405", "", "", "non", ""]
    bad_checksum[1] = "ap+bad-checksum@ssc.example"
    duplicate = [good[3][0], "ap+dup@ssc.example", "Jean", "Double", "0102030405", "", "", "non", ""]
    bad_email = [ACTIVE[23][0], "ap+big-23(at)ssc.example", "Inès", "Sans", "0102030405", "", "", "non", ""]
    rows = good[:4] + [bad_checksum] + good[4:10] + [duplicate] + good[10:17] + [bad_email] + good[17:]
    bad_lines = {2 + rows.index(bad_checksum): "fails its checksum", 2 + rows.index(duplicate): "already on line 5",
                 2 + rows.index(bad_email): "not a valid email"}
    path = write_csv(tmp_path / "fournisseurs.csv", FRENCH_HEADER, rows, encoding="cp1252")
    emails = [row[1] for row in good]

    bot.env["CHORUS_TRACE"] = "off"  # tracing costs CPU; the trace tests and the fault suite cover it
    process = bot.start("batch", str(path), "--concurrency", "4", "--report", str(tmp_path / "report.json"))
    with Watch(process.pid, sandbox.mail.imaps_port, bot.state_db) as watch:
        out, err = process.communicate(timeout=1100)
    assert process.returncode == 1, err[-3000:]  # the bad rows need a person

    # One Chromium, one IMAP connection, 4 suppliers in flight at a time.
    assert watch.max_browsers == 1, watch.browsers_seen
    assert watch.max_imap == 1, watch.imap_seen  # time, local, remote, state, inode
    assert 2 <= watch.max_running <= 4
    # Not a terminal: one plain line per finished supplier.
    assert "[22/22] " in out
    assert "22 supplier(s) to run, 0 already final in the journal, 3 bad row(s) skipped" in " ".join(out.split())
    for line in bad_lines:
        assert f"bad row: line {line}: " in err

    report = json.loads((tmp_path / "report.json").read_text())
    activated = {r["email"]: r for r in report if r["status"] == "activated"}
    assert sorted(activated) == sorted(emails)
    invalid = [r for r in report if r["status"] == "invalid_input"]
    assert len(report) == 25 and len(invalid) == 3
    for line, reason in bad_lines.items():
        assert any(r["message"].startswith(f"line {line}: ") and reason in r["message"] for r in invalid), (line, invalid)

    state = portal.state()
    accounts = accounts_by_email(state)
    for email, row in zip(emails, good):
        [account] = accounts[email]
        assert account["status"] == "active" and account["siret"] == row[0].replace(" ", "")
        if row[6]:
            assert {"Work invoices", "Commitments"} <= set(account["areas"])
    assert "ap+dup@ssc.example" not in accounts and "ap+bad-checksum@ssc.example" not in accounts
    assert state["join_requests"] == []

    status = {row["email"]: row for row in bot.status_json()}
    assert sorted(status) == sorted(emails)
    for email in emails:
        assert status[email]["status"] == "activated" and status[email]["checkpoint"] == "done"
        assert status[email]["attempts"] == activated[email]["attempts"]

    # The same file again: nothing to do, the portal is not even visited.
    hits = len(portal.state()["hits"])
    again = bot.run("batch", str(path), "--report", str(tmp_path / "again.csv"))
    assert again.returncode == 1
    assert "0 supplier(s) to run, 22 already final" in " ".join(again.stdout.split())
    assert len(portal.state()["hits"]) == hits
    with (tmp_path / "again.csv").open(encoding="utf-8", newline="") as f:
        rows_again = list(csv.DictReader(f))
    assert sorted(r["email"] for r in rows_again if r["status"] == "activated") == sorted(emails)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_xlsx_business_outcomes_are_final_unless_retry_failed(bot, portal, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["siret", "email", "first_name", "last_name", "phone", "non_diffusible", "areas"])
    sheet.append([int(ACTIVE[0][0]), "ap+xlsx-a@ssc.example", "Ann", "Lee", 472000000, "no", "Work invoices"])
    sheet.append([NON_DIFFUSIBLE, "ap+xlsx-nd@ssc.example", "Paul", "Laurent", "01 45 00 00 06", True, None])
    sheet.append([spaced(EXISTING), "ap+xlsx-exists@ssc.example", "Marc", "Dumont", "01 46 00 00 00", "no", None])
    path = tmp_path / "suppliers.xlsx"
    workbook.save(path)
    # The first two POSTs of step 3 fail: retried with back-off, activated on attempt 3.
    portal.knobs(fail_next={"/account/work-areas": 2})

    done = bot.run("batch", str(path), "--concurrency", "1", "--report", str(tmp_path / "report.csv"))
    assert done.returncode == 1, done.stderr[-3000:]  # "exists" needs a person
    with (tmp_path / "report.csv").open(encoding="utf-8", newline="") as f:
        report = {row["email"]: row for row in csv.DictReader(f)}
    assert report["ap+xlsx-a@ssc.example"]["status"] == "activated"
    assert report["ap+xlsx-a@ssc.example"]["attempts"] == "3"
    assert "Work invoices" in report["ap+xlsx-a@ssc.example"]["areas"].split("|")
    assert report["ap+xlsx-nd@ssc.example"]["status"] == "activated"
    assert report["ap+xlsx-exists@ssc.example"]["status"] == "exists"
    accounts = accounts_by_email(portal.state())
    assert [a["non_diffusible"] for a in accounts["ap+xlsx-nd@ssc.example"]] == [True]
    assert "ap+xlsx-exists@ssc.example" not in accounts

    hits = len(portal.state()["hits"])
    again = bot.run("batch", str(path))
    assert again.returncode == 1
    assert len(portal.state()["hits"]) == hits  # "exists" is final: not tried again

    retried = bot.run("batch", str(path), "--retry-failed")
    assert retried.returncode == 1
    assert "1 supplier(s) to run, 2 already final" in " ".join(retried.stdout.split())
    status = {row["email"]: row for row in bot.status_json()}
    assert status["ap+xlsx-exists@ssc.example"]["status"] == "exists"
    assert status["ap+xlsx-exists@ssc.example"]["attempts"] == 2
    assert status["ap+xlsx-a@ssc.example"]["attempts"] == 3

    # The rotating log file has the runs, and neither it nor the report holds a secret.
    log = Path(bot.env["CHORUS_ARTIFACTS_DIR"]) / "logs" / "chorus-bot.log"
    written = log.read_text() + (tmp_path / "report.csv").read_text() + json.dumps(bot.status_json())
    assert "ap+xlsx-a@ssc.example" in written and "activated" in written
    revealed = bot.run("credentials", "--siret", ACTIVE[0][0], timeout=60)
    password = next(line.split(": ", 1)[1] for line in revealed.stdout.splitlines() if line.startswith("password: "))
    for secret in (password, bot.env["CHORUS_IMAP_PASSWORD"], bot.env["CHORUS_SECRET_KEY"]):
        assert secret not in written


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_technical_failure_is_bounded_then_final_unless_retry_failed(bot, portal, tmp_path):
    path = write_csv(tmp_path / "one.csv", FRENCH_HEADER, supplier_rows(1, "tech"), encoding="utf-8-sig")
    portal.knobs(error_rate={"/account/structure": 1.0})
    done = bot.run("batch", str(path), "--report", str(tmp_path / "r.json"))
    assert done.returncode == 3, done.stderr[-3000:]
    [result] = json.loads((tmp_path / "r.json").read_text())
    assert result["status"] == "failed" and result["attempts"] == 3  # CHORUS_MAX_ATTEMPTS
    assert result["step"] and result["artifacts"], "the report says where it failed"

    portal.knobs(error_rate={})
    hits = len(portal.state()["hits"])
    assert bot.run("batch", str(path)).returncode == 3  # failed is final...
    assert len(portal.state()["hits"]) == hits
    fixed = bot.run("batch", str(path), "--retry-failed", "--report", str(tmp_path / "r2.json"))
    assert fixed.returncode == 0, fixed.stderr[-3000:]  # ...until asked again
    [result] = json.loads((tmp_path / "r2.json").read_text())
    assert result["status"] == "activated" and result["attempts"] == 4
    assert [a["status"] for a in accounts_by_email(portal.state())["ap+tech-0@ssc.example"]] == ["active"]


def test_dry_run_fills_every_form_and_creates_nothing(bot, portal, tmp_path):
    path = write_csv(tmp_path / "dry.csv", FRENCH_HEADER, supplier_rows(2, "dry"), encoding="utf-8-sig")
    done = bot.run("--dry-run", "batch", str(path), "--concurrency", "2", "--report", str(tmp_path / "dry.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(dry run)" in done.stdout
    report = json.loads((tmp_path / "dry.json").read_text())
    assert [(r["status"], r["step"]) for r in report] == [("pending_activation", "dry-run")] * 2
    state = portal.state()
    assert not any(a["email"].startswith("ap+dry-") for a in state["accounts"])
    assert any(h["path"] == "/account/structure" for h in state["hits"])  # the forms were walked
    assert bot.journal() == []  # and nothing is recorded as done or started
