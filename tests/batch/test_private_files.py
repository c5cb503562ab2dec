"""What a run leaves on disk is private, and the browser's temporary files never outlive it.

Real `chorus-bot` processes against the sandbox, traced (CHORUS_TRACE=on), each given its own
TMPDIR: the system temporary folder as the bot sees it, where Playwright would put its
``playwright-artifacts-*`` (the raw trace, activation token included, until the browser
closes) and Chromium its profile. Every file the bot wrote must be 0600 and every folder it
made 0700 under a umask of 022 or 000; after a run, and after a run killed with SIGKILL
(every process of it at once, as systemd does) followed by a new one, nothing of the bot's
may be left in TMPDIR, and while it is there it sits in a 0700 folder of its run.
"""
from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from batchtools import BOT, FRENCH_HEADER, descendants, supplier_rows, wait_gone, write_csv
from bot.runtemp import PREFIX


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def not_private(root: Path) -> dict[str, str]:
    """Whatever under ``root`` (``root`` included) is not a 0700 folder or a 0600 file."""
    wrong = {}
    for path in [root, *root.rglob("*")]:
        try:
            info = path.lstat()
        except FileNotFoundError:  # removed meanwhile (a -wal at close, a merged segment)
            continue
        wanted = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
        if stat.S_IMODE(info.st_mode) != wanted:
            wrong[str(path)] = oct(stat.S_IMODE(info.st_mode))
    return wrong


def exposed_temporary_files(tmpdir: Path) -> list[str]:
    """What of the bot's in TMPDIR another user could reach (its run folder is 0700: what it
    holds is out of reach; Python's own short-lived temporary files are 0600)."""
    exposed = []
    for entry in tmpdir.iterdir():
        try:
            if mode(entry) & 0o077:
                exposed.append(f"{entry.name} {oct(mode(entry))}")
        except FileNotFoundError:
            pass
    return exposed


class Sampler:
    """While the bot runs, every 0.1 s: the modes of what it wrote so far (the DB's -wal and
    -shm exist only while it runs) and where Playwright's artifacts are."""

    def __init__(self, written: list[Path], tmpdir: Path):
        self.written, self.tmpdir = written, tmpdir
        self.wrong: dict[str, str] = {}
        self.artifacts: set[Path] = set()
        self.exposed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                for root in self.written:
                    if root.exists():
                        self.wrong.update(not_private(root))
                # at the top of TMPDIR (never expected) or one level down, in a run's folder
                self.artifacts |= {*self.tmpdir.glob("playwright-artifacts-*"), *self.tmpdir.glob("*/playwright-artifacts-*")}
                self.exposed += exposed_temporary_files(self.tmpdir)
            except FileNotFoundError:  # a folder removed while listed: the next sample sees the rest
                continue

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start(env: dict[str, str], cwd: Path, umask: int, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [BOT, *args], cwd=cwd, env=env, umask=umask, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def private_env(bot, tmp_path) -> Iterator[dict[str, str]]:
    # A short path, as /tmp is: Chromium's socket path under TMPDIR must fit in 108 bytes.
    tmpdir = Path(tempfile.mkdtemp(prefix="chorus-test-"))
    try:
        yield {
            **bot.env,
            "TMPDIR": str(tmpdir),
            "CHORUS_STATE_DB": str(tmp_path / "state" / "chorus-bot.sqlite3"),
            "CHORUS_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
            "CHORUS_TRACE": "on",
            "CHORUS_MAX_ATTEMPTS": "1",
        }
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def test_a_batch_under_umask_022_writes_only_private_files_and_leaves_no_temporary_ones(
    private_env, portal, tmp_path
):
    path = write_csv(tmp_path / "fournisseurs.csv", FRENCH_HEADER, supplier_rows(3, "private"), encoding="utf-8-sig")
    portal.knobs(fail_next={"/account/work-areas": 1})  # one supplier fails: screenshot, page, summary
    tmpdir = Path(private_env["TMPDIR"])
    written = [tmp_path / "state", tmp_path / "artifacts", tmp_path / "reports"]
    process = start(private_env, tmp_path, 0o022, "batch", str(path), "--concurrency", "2",
                    "--report", "reports/nightly/report-{run_id}.json")
    with Sampler(written, tmpdir) as sampler:
        out, err = process.communicate(timeout=600)
    assert process.returncode == 3, out + err[-3000:]  # two activated, one failed for good

    assert sampler.artifacts, "Playwright's artifacts were never seen: was TMPDIR ignored?"
    for folder in sampler.artifacts:  # always inside the run's private folder
        assert folder.parent.parent == tmpdir and folder.parent.name.startswith(PREFIX), folder
    assert sampler.exposed == []
    assert list(tmpdir.iterdir()) == []  # removed at the end

    assert sampler.wrong == {}
    assert {p.name for p in tmp_path.glob("state/*")} >= {"chorus-bot.sqlite3", "chorus-bot.sqlite3.lock"}
    names = {p.name for p in tmp_path.glob("artifacts/**/*")}
    assert {"trace.zip", "failure.png", "failure.html", "failure.json", "log-tail.txt", "chorus-bot.log"} <= names
    assert len(list(tmp_path.glob("reports/nightly/report-*.json"))) == 1
    for root in written:
        assert not_private(root) == {}


def test_after_a_killed_run_the_next_run_sweeps_its_temporary_files(private_env, portal, tmp_path, mailbox_address):
    tmpdir = Path(private_env["TMPDIR"])
    who = ["--first-name", "Anaïs", "--last-name", "Rigaud", "--phone", "04 72 00 00 01"]
    killed = start(private_env, tmp_path, 0o000, "register", "--siret", "80743987200019",
                   "--email", mailbox_address, *who)
    traces: list[Path] = []
    deadline = time.monotonic() + 240
    while not traces and killed.poll() is None and time.monotonic() < deadline:
        traces = list(tmpdir.glob(f"{PREFIX}*/playwright-artifacts-*/*.trace"))  # recording under way
        time.sleep(0.05)
    assert traces, killed.communicate()[1][-3000:] if killed.poll() is not None else "no trace started in 240 s"
    everything = descendants(killed.pid) | {killed.pid}  # as systemd kills a unit: every process at once
    for pid in everything:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed.communicate(timeout=30)
    assert wait_gone(everything) == set()
    assert traces[0].exists()  # a hard kill leaves Playwright's files behind...
    assert exposed_temporary_files(tmpdir) == []  # ...but only inside the run's 0700 folder

    again = start(private_env, tmp_path, 0o000, "register", "--siret", "75498885500013",
                  "--email", mailbox_address.replace("@", "-2@"), *who)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, out + err[-3000:]
    assert list(tmpdir.iterdir()) == []  # the dead run's folder swept, this run's removed
    for root in (tmp_path / "state", tmp_path / "artifacts"):
        assert not_private(root) == {}
