"""What the bot writes is 0600 (files) / 0700 (folders) whatever the umask: the state DB and its
-wal/-shm, the run lock, the credentials' key file, the log files, the reports, the trace zips.

Each test runs under umask 022 (the usual default) and 000 (the worst); the browser-made
files (traces, failure screenshots) are checked end to end in tests/batch/test_private_files.py.
"""
from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import Iterator

import pytest
from loguru import logger

from bot.credentials import CredentialStore
from bot.journal import Journal, RunLock
from bot.logs import setup_logging
from bot.models import RegistrationResult, Status
from bot.private import private_dir, private_file, private_sqlite, write_private
from bot.report import write_report
from bot.settings import Settings
from bot.tracing import merge_segments, scrub_zip


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(root: Path) -> dict[str, int]:
    """relative path -> mode of everything under ``root``."""
    return {str(p.relative_to(root)): mode(p) for p in sorted(root.rglob("*"))}


def assert_private(root: Path) -> None:
    """Every folder under ``root`` 0700, every file 0600."""
    found = modes_under(root)
    assert found, f"nothing under {root}"
    wrong = {
        name: oct(m) for name, m in found.items()
        if m != (0o700 if (root / name).is_dir() else 0o600)
    }
    assert not wrong, wrong


def test_helpers_make_private_folders_and_files(tmp_path, umask):
    deep = private_dir(tmp_path / "a" / "b" / "c")
    write_private(deep / "text.txt", "é")
    write_private(tmp_path / "new" / "bytes.bin", b"\x89PNG")
    private_file(deep / "marker")
    assert (deep / "text.txt").read_text(encoding="utf-8") == "é"
    assert_private(tmp_path)


def test_existing_folders_are_left_alone_existing_files_are_narrowed(tmp_path, umask):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)  # a user's own folder: not ours to change
    old = shared / "chorus.sqlite3"
    old.write_bytes(b"")
    old.chmod(0o644)  # a state DB written by an older version
    private_sqlite(old)
    assert (mode(shared), mode(old)) == (0o755, 0o600)
    with pytest.raises(FileExistsError):  # claiming a fresh folder (attempt-<n>) fails if it exists
        private_dir(shared, exist_ok=False)


def test_state_db_wal_shm_lock_and_key_file_are_private(tmp_path, umask):
    db = tmp_path / "state" / "chorus.sqlite3"
    with RunLock(db), Journal(db) as journal:
        journal.all()
        store = CredentialStore(db, None)  # creates secret.key beside the DB
        store.put("73282932000074", "ap@ssc.example", "Passw0rd!Passw0rd", "q", "vqjzxkwy-the-answer")  # masked from now on: no common word
        assert {p.name for p in db.parent.iterdir()} >= {
            "chorus.sqlite3", "chorus.sqlite3-wal", "chorus.sqlite3-shm", "chorus.sqlite3.lock", "secret.key"
        }
        assert_private(tmp_path)  # while the journal is open: -wal and -shm exist


def test_log_files_and_their_folder_are_private(tmp_path, umask):
    settings = Settings(_env_file=None, artifacts_dir=tmp_path / "artifacts", log_level="INFO")
    log_file = setup_logging(settings, "run-1")
    try:
        logger.info("a line naming a supplier")
    finally:
        logger.remove()
    assert log_file.read_text(encoding="utf-8").count("a line naming a supplier") == 1
    assert_private(tmp_path / "artifacts")


def test_reports_are_private(tmp_path, umask):
    result = RegistrationResult(siret="73282932000074", email="ap@ssc.example", status=Status.activated, message="ok")
    for name in ("report.json", "report.csv"):
        write_report([result], tmp_path / "reports" / "nightly" / name)
    assert_private(tmp_path / "reports")


def test_merged_and_scrubbed_trace_zips_are_private(tmp_path, umask):
    folder = private_dir(tmp_path / "artifacts" / "attempt-1")
    segment = folder / ".segment-01.zip"
    with zipfile.ZipFile(segment, "w") as out:  # as Playwright saves it: the umask's mode
        out.writestr("trace.trace", '{"type":"before"}\n')
    assert mode(segment) == 0o666 & ~umask
    scrub_zip(segment)
    merge_segments([segment], folder / "trace.zip")
    assert_private(tmp_path / "artifacts")
