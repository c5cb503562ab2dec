"""Opening the bot's SQLite files (journal, credential store) in WAL mode, safely when
several processes open the same new file together."""
from __future__ import annotations

import sqlite3
import time

# Turning a file to WAL takes an exclusive lock, and SQLite answers "database is locked"
# at once (its busy handler is not called for this) while another connection is converting
# it or writing. The mode is stored in the file: once one connection has set it, the
# others only have to see it. So: read the mode, and set it, retrying for this long.
WAL_RETRY_S = 30.0


def ensure_wal(conn: sqlite3.Connection, retry_s: float = WAL_RETRY_S) -> None:
    """Put the database behind *conn* in WAL mode, or see that it already is."""
    deadline = time.monotonic() + retry_s
    pause, mode = 0.005, None
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
        if time.monotonic() >= deadline:
            raise sqlite3.OperationalError(f"could not switch the database to WAL mode (mode is {mode!r})")
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))  # lock back-off, not a page wait
        pause = min(pause * 2, 0.2)
