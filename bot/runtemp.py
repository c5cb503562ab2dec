"""The run's private temporary folder, where Playwright and Chromium keep their temporary files.

Why: until the browser closes, Playwright keeps the raw material of a trace (every request
and DOM snapshot, the activation token among them) in ``$TMPDIR/playwright-artifacts-*``,
and Chromium its profile (history, cookies) in ``$TMPDIR/playwright_chromiumdev_profile-*``.
Playwright removes them when it closes normally, but a hard kill of the run (SIGKILL of its
process group, a systemd stop that times out, the OOM killer) leaves them in the shared
temporary folder. So a run points ``TMPDIR``, for every process it starts (Playwright's
driver, the batch's browser server, Chromium), at a folder of its own: 0700, removed at
the end, and swept by the next run if its run died. Those processes also start with the
umask 077: what they write for the bot (a trace segment, saved by Playwright before the bot
scrubs it) is private from its first byte, whatever the umask the bot was started with.

Live or dead: the run holds an ``flock`` on the folder's ``.lock`` for its whole life. The
kernel releases it when the process dies, even by SIGKILL, so a folder whose lock can be
taken belongs to a dead run. The folder gets its final name only once locked, so a sweep
never mistakes a run being set up for a dead one.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from loguru import logger

PREFIX = "chorus-bot-run-"
_NEW_PREFIX = ".chorus-bot-new-"
LOCK_NAME = ".lock"


@contextmanager
def run_temp_dir() -> Iterator[Path]:
    """Sweep the folders of dead runs, make this run's (0700), set it as ``TMPDIR`` (and the
    umask 077) for the processes started inside the block, and remove it at the end."""
    base = Path(tempfile.gettempdir())  # also fixes Python's own choice before TMPDIR changes
    sweep_stale(base)
    fresh = Path(tempfile.mkdtemp(prefix=_NEW_PREFIX, dir=base))  # mkdtemp: mode 0700
    lock = os.open(fresh / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    folder = fresh.with_name(PREFIX + fresh.name.removeprefix(_NEW_PREFIX))
    fresh.rename(folder)
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(folder)
    previous_umask = os.umask(0o077)
    try:
        yield folder
    finally:
        os.umask(previous_umask)
        if previous is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous
        shutil.rmtree(folder, ignore_errors=True)
        os.close(lock)


def current_run_temp() -> Path | None:
    """The run's private temporary folder (``bot.runtemp``) when this process runs in one.

    It is the ``TMPDIR`` that ``run_temp_dir`` set, recognised by its name, its lock file and
    its place in the base temporary folder: exactly the folders a later start sweeps."""
    folder = os.environ.get("TMPDIR")
    if not folder:
        return None
    path = Path(folder)
    if (
        path.name.startswith(PREFIX)
        and path.parent == Path(tempfile.gettempdir())  # Python fixed it before TMPDIR changed
        and path.is_dir()
        and (path / LOCK_NAME).is_file()
    ):
        return path
    return None


def sweep_stale(base: Path) -> list[Path]:
    """Remove the run folders under ``base`` that belong to dead runs of this user; returns them."""
    removed = []
    for folder in base.glob(PREFIX + "*"):
        try:
            info = folder.lstat()
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            continue
        try:
            lock = os.open(folder / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            lock = None  # its removal was cut short (the lock goes first or any time): nobody owns it
        except OSError:
            continue
        try:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live run
        finally:
            if lock is not None:
                os.close(lock)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        logger.info(f"removed the temporary folders of {len(removed)} run(s) that ended without cleaning up")
    return removed
