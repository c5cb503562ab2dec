"""The run's private temporary folder: TMPDIR of the processes a run starts, 0700, removed at the
end, and swept by the next run when its run died (a real process, killed with SIGKILL)."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bot.runtemp import LOCK_NAME, PREFIX, run_temp_dir, sweep_stale

# A run in another process: it makes its folder, writes a file as Playwright would, says where,
# then waits to be killed.
_RUN = """
import sys, tempfile
from pathlib import Path
from bot.runtemp import run_temp_dir
tempfile.tempdir = sys.argv[1]
with run_temp_dir() as folder:
    (folder / "playwright-artifacts-x").mkdir()
    (folder / "playwright-artifacts-x" / "page.trace").write_text("token=abc")
    print(folder, flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def base(tmp_path, monkeypatch) -> Path:
    """The system temporary folder, as the bot sees it."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def start_run(base: Path) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN, str(base)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    line = process.stdout.readline().strip()
    assert line, "the run did not start"
    return process, Path(line)


def test_the_folder_is_private_is_tmpdir_for_children_and_goes_at_the_end(base, monkeypatch):
    monkeypatch.setenv("TMPDIR", "/somewhere/else")
    umask = os.umask(0o022)
    try:
        with run_temp_dir() as folder:
            assert folder.parent == base and folder.name.startswith(PREFIX)
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            child = subprocess.run(  # a child writes a file, as Playwright saves a trace segment
                [sys.executable, "-c", "import tempfile; open('segment.zip', 'w'); print(tempfile.gettempdir())"],
                capture_output=True, text=True, check=True, cwd=folder,
            )
            assert child.stdout.strip() == str(folder)
            assert stat.S_IMODE((folder / "segment.zip").stat().st_mode) == 0o600
        assert os.umask(umask) == 0o022  # the caller's umask is back
    finally:
        os.umask(umask)
    assert os.environ["TMPDIR"] == "/somewhere/else"
    assert list(base.iterdir()) == []


def test_the_folder_goes_when_the_run_fails(base):
    with pytest.raises(RuntimeError):
        with run_temp_dir() as folder:
            raise RuntimeError("a failed run")
    assert not folder.exists()


def test_a_killed_runs_folder_is_swept_by_the_next_run_a_live_ones_is_not(base):
    dead, dead_folder = start_run(base)
    live, live_folder = start_run(base)
    try:
        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=30)
        assert (dead_folder / "playwright-artifacts-x" / "page.trace").exists()  # a hard kill leaves it
        foreign = base / "playwright-artifacts-other"  # not a run's: never touched
        foreign.mkdir()
        with run_temp_dir() as folder:
            assert not dead_folder.exists()
            assert live_folder.exists() and (live_folder / LOCK_NAME).exists()
            assert sorted(p.name for p in base.iterdir()) == sorted([folder.name, live_folder.name, foreign.name])
    finally:
        live.stdin.close()
        live.wait(timeout=30)
    assert sorted(p.name for p in base.iterdir()) == [foreign.name]  # the live run cleaned up itself


def test_a_folder_whose_removal_was_cut_short_is_swept(base):
    half = base / f"{PREFIX}abc"
    half.mkdir(mode=0o700)
    (half / "leftover").write_text("x")  # its .lock already gone
    assert sweep_stale(base) == [half]
    assert not half.exists()
