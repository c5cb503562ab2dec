"""Several workers share one batch through PostgreSQL: `batch --enqueue`, then `worker` processes.

Real things only: a throw-away PostgreSQL server (Debian's binaries, initdb + pg_ctl, the
``postgres`` fixture), the real `chorus-bot` commands in subprocesses, one Chromium each, the
sandbox over HTTP and its Dovecot over IMAP with TLS. What a user checks: one account per
supplier on the portal, every supplier activated in the shared journal, the run's report.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from batchtools import BOT, FRENCH_HEADER, accounts_by_email, catalogue_active, spaced, write_csv
from bot.journal import Journal, JournalEntry

STALLED_S = 4  # CHORUS_WORKER_STALLED_S in these tests: a killed worker's supplier is taken over soon


@pytest.fixture
def env(bot_env, pg_url, tmp_path) -> dict[str, str]:
    env = {**os.environ, **bot_env, "CHORUS_STATE_DB": pg_url, "CHORUS_RETRY_BACKOFF_S": "0.5",
           "CHORUS_LOG_LEVEL": "INFO", "CHORUS_TRACE": "off",
           "CHORUS_WORKER_HEARTBEAT_S": "1", "CHORUS_WORKER_STALLED_S": str(STALLED_S)}
    env.pop("CHORUS_CONCURRENCY", None)
    return env


def rows_for(sirets: list[str], tag: str) -> list[list[str]]:
    return [[spaced(siret) if i % 3 == 0 else siret, f"ap+{tag}-{i}@ssc.example", "Anaïs", f"Lefèvre-{i}",
             "04 72 00 00 00", "", "", "non", ""] for i, siret in enumerate(sirets)]


class Workers:
    """`chorus-bot worker` processes, each logging to its own file (read by the assertions)."""

    def __init__(self, env: dict[str, str], folder: Path):
        self.env, self.folder = env, folder
        self.processes: list[subprocess.Popen] = []

    def start(self, concurrency: int, *options: str) -> subprocess.Popen:
        n = len(self.processes)
        log = open(self.folder / f"worker-{n}.out", "w")
        process = subprocess.Popen(
            [BOT, "worker", "--concurrency", str(concurrency), *options], cwd=self.folder, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,  # its own group: killed whole
        )
        log.close()
        self.processes.append(process)
        return process

    def output(self, n: int) -> str:
        return (self.folder / f"worker-{n}.out").read_text(errors="replace")

    def stop(self) -> list[int]:
        """SIGTERM (as systemd stops one) every worker still running; their exit codes."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        return [process.wait(timeout=90) for process in self.processes]

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def enqueue(env: dict[str, str], folder: Path, path: Path) -> str:
    done = subprocess.run([BOT, "batch", str(path), "--enqueue"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return re.search(r"batch (\S+): ", done.stdout).group(1)


def journal_entries(url: str) -> dict[str, JournalEntry]:
    with Journal(url) as journal:
        return {entry.siret: entry for entry in journal.all()}


def wait_for_run_end(url: str, run_id: str, workers: Workers, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with Journal(url) as journal:
        while time.monotonic() < deadline:
            record = journal.run(run_id)
            if record is not None and record.finished_at is not None:
                return
            for n, process in enumerate(workers.processes):
                assert process.poll() is None or process.returncode == -signal.SIGKILL, (
                    f"worker {n} ended (exit {process.returncode}):\n{workers.output(n)[-3000:]}")
            time.sleep(0.2)  # polling the journal, not waiting for a page
    raise AssertionError(f"run {run_id} did not end within {timeout:g} s: "
                         f"{[(e.siret, e.status, e.checkpoint.value) for e in journal_entries(url).values()]}")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_three_workers_share_a_batch_of_30_suppliers_each_registered_once(env, portal, tmp_path):
    sirets = catalogue_active()[:30]
    rows = rows_for(sirets, "three")
    rows.insert(5, ["123", "bad@ssc.example", "A", "B", "0102030405", "", "", "non", ""])  # a bad row, line 7
    path = write_csv(tmp_path / "fournisseurs.csv", FRENCH_HEADER, rows, encoding="utf-8-sig")
    run_id = enqueue(env, tmp_path, path)

    workers = Workers(env, tmp_path)
    try:
        for _ in range(3):
            workers.start(concurrency=2)
        wait_for_run_end(env["CHORUS_STATE_DB"], run_id, workers, timeout=600)
        codes = workers.stop()
    finally:
        workers.kill_all()
    assert codes == [0, 0, 0], [workers.output(n)[-2000:] for n in range(3)]

    accounts = accounts_by_email(portal.state())
    for i in range(30):
        assert len(accounts.get(f"ap+three-{i}@ssc.example", [])) == 1, f"supplier {i}: not exactly one account"
    entries = journal_entries(env["CHORUS_STATE_DB"])
    assert sorted(entries) == sorted(sirets)
    assert {(e.status, e.attempts, e.run_id) for e in entries.values()} == {("activated", 1, run_id)}
    # Each worker took its share: the queue handed suppliers to all three.
    shares = [len(re.findall(r"bot\.flows\.worker:_one:\d+ \| supplier \d{14}: activated", workers.output(n)))
              for n in range(3)]
    assert sum(shares) == 30 and min(shares) >= 1, shares

    # One report for the whole batch, in the file's order, bad row included; status reads the same journal.
    with Journal(env["CHORUS_STATE_DB"]) as journal:
        results = journal.run(run_id).results
    assert [r.status.value for r in results] == ["activated"] * 5 + ["invalid_input"] + ["activated"] * 25
    assert [r.siret for r in results if r.status.value == "activated"] == sirets
    report = subprocess.run([BOT, "report", "--run", run_id], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert report.returncode == 0, report.stderr
    html = Path(report.stdout.strip()).read_text()
    assert all(siret in html for siret in sirets) and "line 7:" in html
    status = subprocess.run([BOT, "status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert "30 supplier(s): activated 30" in status.stdout, status.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_worker_killed_mid_supplier_has_it_finished_by_another_from_its_checkpoint(env, portal, tmp_path):
    sirets = catalogue_active()[:3]
    path = write_csv(tmp_path / "fournisseurs.csv", FRENCH_HEADER, rows_for(sirets, "kill"), encoding="utf-8-sig")
    portal.knobs(mail_delay_ms=4000)  # the account exists, its mail not yet there: the kill point
    run_id = enqueue(env, tmp_path, path)
    url = env["CHORUS_STATE_DB"]
    workers = Workers(env, tmp_path)
    try:
        first = workers.start(concurrency=1)
        deadline = time.monotonic() + 240
        victim = None
        while victim is None and time.monotonic() < deadline:
            assert first.poll() is None, workers.output(0)[-3000:]
            victim = next((e for e in journal_entries(url).values()
                           if e.status == "running" and e.checkpoint.value == "account_created"), None)
            time.sleep(0.05)  # polling the journal for the kill point
        assert victim is not None, f"no supplier reached account_created:\n{workers.output(0)[-3000:]}"
        os.killpg(first.pid, signal.SIGKILL)  # the worker, its driver and its Chromium: a machine lost
        first.wait(timeout=30)
        assert len(accounts_by_email(portal.state())[victim.email.lower()]) == 1

        workers.start(concurrency=2)
        wait_for_run_end(url, run_id, workers, timeout=300)
        assert workers.stop()[1] == 0
    finally:
        workers.kill_all()

    taken_over = journal_entries(url)[victim.siret]
    assert (taken_over.status, taken_over.attempts) == ("activated", 2)  # a second attempt, resumed
    for i in range(3):
        assert len(accounts_by_email(portal.state())[f"ap+kill-{i}@ssc.example"]) == 1, f"supplier {i}"
    second = workers.output(1)
    assert f"taking over supplier {victim.siret}" in second
    # Resumed from its checkpoint: the new attempt waited for the mail, it never filled the form again.
    attempt = [line for line in second.splitlines() if f"| {victim.siret} |" in line]
    assert any("resuming" in line for line in attempt), attempt
    assert not any("at step 1" in line for line in attempt), attempt
    assert {e.status for e in journal_entries(url).values()} == {"activated"}


CAPTCHA = "DESK7"  # every captcha image's text (the sandbox's `captcha_text` knob)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_workers_share_one_desk_where_a_person_answers_every_captcha(af_env, af_portal, pg_url, tmp_path):
    env = {**os.environ, **af_env, "CHORUS_STATE_DB": pg_url, "CHORUS_CAPTCHA": "none", "CHORUS_TRACE": "off",
           "CHORUS_RETRY_BACKOFF_S": "0.5", "CHORUS_LOG_LEVEL": "INFO",
           "CHORUS_WORKER_HEARTBEAT_S": "1", "CHORUS_WORKER_STALLED_S": str(STALLED_S)}
    for name in ("CHORUS_CAPTCHA_COMMAND", "CHORUS_CONCURRENCY", "CHORUS_DESK_NOTIFY_COMMAND"):
        env.pop(name, None)
    af_portal.knobs(captcha_text=CAPTCHA)
    sirets = catalogue_active()[:4]
    path = write_csv(tmp_path / "fournisseurs.csv", FRENCH_HEADER, rows_for(sirets, "desk"), encoding="utf-8-sig")
    run_id = enqueue(env, tmp_path, path)

    desk_out = tmp_path / "desk.out"
    with open(desk_out, "w") as out:
        desk = subprocess.Popen([BOT, "desk", "--serve"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    workers = Workers(env, tmp_path)
    answered: dict[str, str] = {}  # card id -> SIRET
    try:
        deadline = time.monotonic() + 60
        while not (match := re.search(r"^captcha desk: (http://\S+)$", desk_out.read_text(), re.M)):
            assert desk.poll() is None and time.monotonic() < deadline, desk_out.read_text()
            time.sleep(0.1)  # waiting for the desk's address line
        url = match.group(1)
        workers.start(2, "--desk")
        workers.start(2, "--desk")
        with httpx.Client(base_url=url, timeout=10) as person, Journal(pg_url) as journal:
            deadline = time.monotonic() + 400
            while (journal.run(run_id).finished_at is None) and time.monotonic() < deadline:
                for card in person.get("waiting").json()["waiting"]:
                    if card["id"] in answered:
                        continue
                    assert person.get(card["image"]).content.startswith(b"\x89PNG")
                    assert person.post(f"answer/{card['id']}", json={"answer": CAPTCHA}).status_code == 204
                    answered[card["id"]] = card["siret"]
                time.sleep(0.3)  # a person's glance at the page
        codes = workers.stop()
    finally:
        workers.kill_all()
        desk.terminate()
        desk.wait(timeout=30)
    assert codes == [0, 0], [workers.output(n)[-2000:] for n in range(2)]
    assert desk.returncode == 0, desk_out.read_text()

    entries = journal_entries(pg_url)
    assert {(siret, entries[siret].status) for siret in sirets} == {(siret, "activated") for siret in sirets}
    assert sorted(set(answered.values())) == sorted(sirets)  # every card named its supplier
    accounts = accounts_by_email(af_portal.state())
    for i in range(4):
        [account] = accounts[f"ap+desk-{i}@ssc.example"]
        assert account["status"] == "active"
    outputs = [workers.output(n) for n in range(2)]
    assert all("captcha: answered at the desk" in output for output in outputs), "both workers used the desk"
    logs = "".join(outputs) + desk_out.read_text()
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert CAPTCHA not in logs.replace(url, "") and token not in logs.replace(url, "")
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM captcha_requests").fetchone()[0] == 0  # nothing left behind


def _plain_env(state_db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_")}
    return {**env, "CHORUS_STATE_DB": state_db}


def test_enqueue_needs_postgresql_and_refuses_the_options_of_a_local_batch(pg_url, tmp_path):
    path = write_csv(tmp_path / "f.csv", FRENCH_HEADER, rows_for(catalogue_active()[:1], "opt"), encoding="utf-8")
    sqlite = tmp_path / "state.sqlite3"
    done = subprocess.run([BOT, "batch", str(path), "--enqueue"], cwd=tmp_path, env=_plain_env(str(sqlite)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: CHORUS_STATE_DB: --enqueue needs a postgresql:// URL (the queue lives in PostgreSQL)"
    assert not sqlite.exists()
    done = subprocess.run([BOT, "batch", str(path), "--enqueue", "--concurrency", "3"], cwd=tmp_path,
                          env=_plain_env(pg_url), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--concurrency with --enqueue: that option is each worker's" in done.stderr
    with psycopg.connect(pg_url) as conn:  # refused before anything was written
        assert conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is None


def test_a_supplier_already_waiting_in_the_queue_is_not_queued_twice(pg_url, tmp_path):
    path = write_csv(tmp_path / "f.csv", FRENCH_HEADER, rows_for(catalogue_active()[:2], "twice"), encoding="utf-8")
    env = _plain_env(pg_url)
    first = subprocess.run([BOT, "batch", str(path), "--enqueue"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=60)
    assert first.returncode == 0 and ": 2 supplier(s) queued, 0 already final" in first.stdout, first.stderr
    second = subprocess.run([BOT, "batch", str(path), "--enqueue"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert second.returncode == 0 and ": 0 supplier(s) queued, 0 already final in the journal, 2 already queued" \
        " by another batch" in second.stdout, second.stdout
    with psycopg.connect(pg_url) as conn:
        jobs = conn.execute("SELECT args->'supplier'->>'siret', status FROM procrastinate_jobs ORDER BY id").fetchall()
    assert jobs == [(siret, "todo") for siret in catalogue_active()[:2]]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigterm_lets_a_worker_finish_its_supplier_in_flight_and_take_no_other(env, portal, tmp_path):
    sirets = catalogue_active()[:2]
    path = write_csv(tmp_path / "fournisseurs.csv", FRENCH_HEADER, rows_for(sirets, "term"), encoding="utf-8-sig")
    portal.knobs(mail_delay_ms=3000)  # the supplier waits for its mail when the signal comes
    enqueue(env, tmp_path, path)
    url = env["CHORUS_STATE_DB"]
    workers = Workers(env, tmp_path)
    try:
        worker = workers.start(concurrency=1)
        deadline = time.monotonic() + 120
        while not any(e.checkpoint.value == "account_created" for e in journal_entries(url).values()):
            assert worker.poll() is None and time.monotonic() < deadline, workers.output(0)[-3000:]
            time.sleep(0.05)  # polling the journal for the moment to stop the worker
        worker.send_signal(signal.SIGTERM)  # as systemd stops a service
        assert worker.wait(timeout=120) == 0, workers.output(0)[-3000:]
    finally:
        workers.kill_all()
    entries = journal_entries(url)
    [(siret, entry)] = entries.items()  # the other supplier never started
    assert entry.status == "activated" and entry.attempts == 1
    assert "interrupted: no new supplier starts; those in flight finish" in workers.output(0)
    accounts = accounts_by_email(portal.state())
    [waiting] = [s for s in sirets if s != siret]
    assert f"ap+term-{sirets.index(waiting)}@ssc.example" not in accounts
    with psycopg.connect(url) as conn:  # it waits in the queue for the next worker
        jobs = conn.execute("SELECT args->'supplier'->>'siret', status FROM procrastinate_jobs").fetchall()
    assert jobs == [(waiting, "todo")]
