"""Files and folders that only their owner can read, whatever the umask.

Why: what the bot writes holds personal data (names, e-mails, phone numbers, screenshots)
and the encrypted credentials: the state DB and its ``-wal``/``-shm`` files, the artifact
folders (traces, failure screenshots and page dumps), the log files and the reports. The
process that starts the bot (a shell, cron, a systemd unit) may have any umask, 022 or even
000, so every module that creates one of these goes through these helpers: files 0600,
folders 0700, set explicitly rather than left to the umask.
"""
from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path | str, *, exist_ok: bool = True) -> Path:
    """Create ``path`` and its missing parents as 0700 folders; returns ``path``.

    Folders that already exist are left as they are (a user's own folder, e.g. ``/var/lib``);
    only those this call creates are made private. ``exist_ok=False``: FileExistsError when
    ``path`` exists (to claim a fresh folder, e.g. the next free ``attempt-<n>``)."""
    path = Path(path)
    if not path.parent.exists():
        private_dir(path.parent)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        if exist_ok and path.is_dir():
            return path  # ours from before, or another process made it meanwhile
        raise
    os.chmod(path, DIR_MODE)  # mkdir's mode went through the umask
    return path


def private_opener(path: str | os.PathLike[str], flags: int) -> int:
    """An ``opener`` for ``open()`` (and loguru's file sink): the file is 0600 once open.

    A file that existed with wider permissions (written by an older version) is narrowed."""
    fd = os.open(path, flags, FILE_MODE)
    try:
        _narrow(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private(path: Path | str, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to a 0600 file, its folder created 0700 if missing."""
    path = Path(path)
    private_dir(path.parent)
    with open(path, "wb", opener=private_opener) as out:
        out.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def private_file(path: Path | str) -> Path:
    """Make sure ``path`` exists as a 0600 file (created empty if missing); returns it."""
    path = Path(path)
    private_dir(path.parent)
    os.close(private_opener(path, os.O_RDONLY | os.O_CREAT))
    return path


def private_sqlite(db_path: Path | str) -> Path:
    """Prepare an SQLite database file so that SQLite's own files stay private.

    SQLite creates a new database 0644 less the umask, but gives its ``-wal``, ``-shm`` and
    ``-journal`` files the mode of the database file: creating the (empty) database file
    0600 first keeps all of them private. Files left by an older version are narrowed.

    An existing file is never opened here, only chmod-ed by path: closing any descriptor of a
    file drops every POSIX lock this process holds on it, SQLite's among them. A connection of
    this process would lose its WAL locks, and the next reader of another process (`chorus-bot
    status`) closing the database would delete the ``-wal`` and ``-shm`` under it."""
    db_path = Path(db_path)
    if not db_path.exists():
        private_file(db_path)  # a new database: no connection holds it yet
    for path in (db_path, *(db_path.with_name(db_path.name + suffix) for suffix in _SQLITE_COMPANIONS)):
        try:
            info = os.stat(path)
        except FileNotFoundError:
            continue
        if info.st_uid == os.geteuid() and info.st_mode & 0o777 != FILE_MODE:
            os.chmod(path, FILE_MODE)
    return db_path


def _narrow(fd: int) -> None:
    """0600 for a file we own (another user's file is not ours to change)."""
    info = os.fstat(fd)
    if info.st_uid == os.geteuid() and info.st_mode & 0o777 != FILE_MODE:
        os.fchmod(fd, FILE_MODE)
