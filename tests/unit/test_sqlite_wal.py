"""Processes opening one new state file together: each one gets a WAL database, none a
"database is locked" (SQLite does not wait for the lock when switching a file to WAL)."""
import sqlite3
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from bot.credentials import CredentialStore
from bot.sqlite_wal import ensure_wal


def _open_store(db: str) -> str:
    CredentialStore(db, None)
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


def test_eight_processes_opening_new_stores_together_all_succeed(tmp_path):
    dbs = [str(tmp_path / f"round{i}" / "s.sqlite3") for i in range(12)]
    for db in dbs:
        (tmp_path / db).parent.mkdir()
    with ProcessPoolExecutor(8) as pool:
        modes = list(pool.map(_open_store, [db for db in dbs for _ in range(8)]))
    assert modes == ["wal"] * len(modes)


def test_eight_threads_opening_new_stores_together_all_succeed(tmp_path):
    dbs = [str(tmp_path / f"s{i}.sqlite3") for i in range(20)]
    with ThreadPoolExecutor(8) as pool:
        modes = list(pool.map(_open_store, [db for db in dbs for _ in range(8)]))
    assert modes == ["wal"] * len(modes)


def test_a_file_held_by_a_writer_is_switched_once_the_writer_commits(tmp_path):
    db = tmp_path / "s.sqlite3"
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    other = sqlite3.connect(db, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        ensure_wal(other, retry_s=0.2)  # still held: a clear error after the retry time
    writer.execute("COMMIT")
    ensure_wal(other, retry_s=0.2)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
