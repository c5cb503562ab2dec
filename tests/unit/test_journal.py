"""The journal survives kill -9, many threads and many processes; the run lock never goes stale.

The tests taking ``state_db`` run against both journals, SQLite and PostgreSQL: they are the
journal's contract. The others check what only one of them has (SQLite's WAL, the
PostgreSQL migrations)."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timezone

import pytest

from bot.journal import RUNNING, Checkpoint, Journal, JournalEntry, LockBusy, RunLock, SqliteJournal, is_final
from bot.journal_pg import PostgresJournal
from bot.models import RegistrationResult, Status, Supplier


def supplier(n: int) -> Supplier:
    return Supplier(
        siret=f"{n:014d}", email=f"ap+{n}@ssc.example", first_name="Ann", last_name="Lee", phone="0102030405"
    )


def run_python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def state_db(request, tmp_path):
    """A new journal's CHORUS_STATE_DB: a SQLite file, or an empty PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "state.sqlite3"
    return request.getfixturevalue("pg_url")


def test_lifecycle_of_one_supplier(state_db):
    journal = Journal(state_db)
    assert isinstance(journal, PostgresJournal if isinstance(state_db, str) else SqliteJournal)
    s = supplier(1)
    assert journal.get(s.siret) is None
    entry = journal.start_attempt(s, "run-1")
    assert (entry.status, entry.checkpoint, entry.attempts, entry.run_id) == (RUNNING, Checkpoint.new, 1, "run-1")
    assert entry.supplier == s and entry.outcome is None
    since = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    journal.checkpoint(s.siret, Checkpoint.account_created, mail_since=since, step="step 4")
    journal.update(s.siret, last_error="timeout on step 4")
    entry = journal.get(s.siret)
    assert (entry.checkpoint, entry.mail_since, entry.step, entry.last_error) == (
        Checkpoint.account_created, since, "step 4", "timeout on step 4"
    )
    result = RegistrationResult(siret=s.siret, email=s.email, status=Status.activated, attempts=1,
                                trace="artifacts/t.zip", artifacts=["artifacts/a.png"])
    journal.finish(result)
    entry = journal.get(s.siret)
    assert entry.outcome is Status.activated and entry.checkpoint is Checkpoint.done
    assert entry.result == result and entry.trace == "artifacts/t.zip" and entry.artifacts == ["artifacts/a.png"]
    assert entry.finished_at is not None
    assert journal.start_attempt(s, "run-2").attempts == 2
    with pytest.raises(ValueError, match="unknown journal field"):
        journal.checkpoint(s.siret, Checkpoint.activating, password="x")
    with pytest.raises(KeyError):
        journal.checkpoint("99999999999999", Checkpoint.creating_account)
    journal.close()


def test_is_final():
    def entry(status: str, checkpoint: Checkpoint = Checkpoint.new) -> JournalEntry:
        return JournalEntry(siret="1", email="e", supplier=supplier(1), status=status, checkpoint=checkpoint)

    assert is_final(None) is False
    assert is_final(entry(RUNNING), retry_failed=False) is False
    assert is_final(entry("activated"), retry_failed=True) is True
    assert is_final(entry("pending_activation")) is False
    for status in ("exists", "email_in_use", "invalid_input", "insee_mismatch", "blocked", "failed"):
        assert is_final(entry(status)) is True
        assert is_final(entry(status), retry_failed=True) is False
    # An account created, then a technical failure: the next run completes it, flag or not.
    for checkpoint in (Checkpoint.creating_account, Checkpoint.account_created, Checkpoint.activating):
        assert is_final(entry("failed", checkpoint)) is False


def test_the_journal_shares_its_db_with_other_tables(tmp_path):
    db = tmp_path / "state.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE credentials (siret TEXT PRIMARY KEY, blob BLOB)")
        conn.execute("INSERT INTO credentials VALUES ('1', x'00')")
    journal = Journal(db)
    journal.start_attempt(supplier(1), "r")
    journal.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM credentials").fetchone() == (1,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_checkpoint_is_durable_when_the_process_is_killed_right_after_it(state_db):
    db = state_db
    child = run_python(
        """
        import os, signal, sys
        from datetime import datetime, timezone
        from bot.journal import Checkpoint, Journal
        from bot.models import Supplier
        journal = Journal(sys.argv[1])
        s = Supplier(siret="00000000000042", email="ap+42@ssc.example", first_name="A", last_name="B", phone="0102030405")
        journal.start_attempt(s, "run-killed")
        journal.checkpoint(s.siret, Checkpoint.creating_account,
                           mail_since=datetime(2026, 5, 6, 7, 8, 9, tzinfo=timezone.utc))
        os.kill(os.getpid(), signal.SIGKILL)  # nothing after checkpoint() returns: no close, no exit hooks
        """,
        str(db),
    )
    _, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, err
    journal = Journal(db)
    entry = journal.get("00000000000042")
    assert entry is not None, "the write-ahead checkpoint was lost"
    assert entry.checkpoint is Checkpoint.creating_account
    assert entry.mail_since == datetime(2026, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    assert (entry.status, entry.run_id, entry.attempts) == (RUNNING, "run-killed", 1)
    assert is_final(entry) is False  # the next run resumes it
    journal.close()


def test_many_threads_share_one_journal(state_db):
    journal = Journal(state_db)
    errors: list[BaseException] = []

    def worker(first: int) -> None:
        try:
            for n in range(first, first + 20):
                s = supplier(n)
                journal.start_attempt(s, "run")
                for cp in (Checkpoint.creating_account, Checkpoint.account_created, Checkpoint.activating):
                    journal.checkpoint(s.siret, cp)
                journal.finish(RegistrationResult(siret=s.siret, email=s.email, status=Status.activated))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i * 100,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    entries = journal.all()
    assert len(entries) == 120
    assert {(e.outcome, e.checkpoint, e.attempts) for e in entries} == {(Status.activated, Checkpoint.done, 1)}
    journal.close()


def test_two_processes_write_the_same_rows_without_losing_an_update(state_db):
    db = state_db
    Journal(db).close()
    code = """
        import sys
        from bot.journal import Journal
        from bot.models import Supplier
        journal = Journal(sys.argv[1])
        for round in range(40):
            for n in range(5):
                s = Supplier(siret=f"{n:014d}", email=f"ap+{n}@ssc.example", first_name="A", last_name="B", phone="0102030405")
                journal.start_attempt(s, sys.argv[2])
        print("ok")
    """
    children = [run_python(code, str(db), f"proc-{i}") for i in range(2)]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0 and out.strip() == "ok", err
    journal = Journal(db)
    assert [e.attempts for e in journal.all()] == [80] * 5
    journal.close()


def test_status_reads_while_a_writer_holds_a_transaction(tmp_path):
    db = tmp_path / "state.sqlite3"
    journal = Journal(db)
    journal.start_attempt(supplier(1), "run")
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE suppliers SET step = 'uncommitted'")
    reader = Journal(db)
    started = time.monotonic()
    [entry] = reader.all()
    assert entry.step is None  # sees the last committed state...
    assert time.monotonic() - started < 1  # ...at once, without waiting for the writer
    writer.execute("COMMIT")
    assert reader.get(supplier(1).siret).step == "uncommitted"
    writer.close()
    reader.close()
    journal.close()


def _held_by_me(holder: str, pid: int) -> bool:
    """The lock's holder as each kind names it: our pid (SQLite), a session from here (PostgreSQL)."""
    return holder.startswith(f"pid {pid} ") or holder.startswith("a session from 127.0.0.1")


def test_run_lock_second_acquire_fails_cleanly(state_db):
    db = state_db
    first, second = RunLock(db), RunLock(db)
    assert first.acquire(wait=False) is True
    assert second.acquire(wait=False) is False
    assert _held_by_me(second.holder(), os.getpid())
    with pytest.raises(LockBusy, match="another run holds the journal"):
        with RunLock(db):
            pass
    first.release()
    assert second.holder() == ""
    with second:
        assert second.held
    assert not second.held


def test_run_lock_waits_for_the_holder(state_db):
    db = state_db
    holder = RunLock(db)
    holder.acquire()
    got = threading.Event()

    def waiter() -> None:
        lock = RunLock(db)
        lock.acquire(wait=True)
        got.set()
        lock.release()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not got.wait(0.3)  # still blocked while held
    holder.release()
    assert got.wait(10)
    thread.join()


def test_run_lock_is_released_when_the_holder_is_killed(state_db):
    db = state_db
    child = run_python(
        """
        import sys, time
        from bot.journal import RunLock
        lock = RunLock(sys.argv[1])
        assert lock.acquire(wait=False)
        print("locked", flush=True)
        time.sleep(600)
        """,
        str(db),
    )
    try:
        assert child.stdout.readline().strip() == "locked"
        lock = RunLock(db)
        assert lock.acquire(wait=False) is False
        assert _held_by_me(lock.holder(), child.pid)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        # SQLite: the kernel drops the flock with the process. PostgreSQL: the server ends the
        # session when it reads the closed connection, a few milliseconds later (more when busy).
        deadline = time.monotonic() + 10
        while not lock.acquire(wait=False):
            assert time.monotonic() < deadline, "the killed holder's lock was never released"
            time.sleep(0.05)
        lock.release()
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
