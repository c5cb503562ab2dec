"""The journal: what the bot knows about every supplier it ever started, in the state DB.

Why it exists: a batch may be killed at any instant (kill -9, reboot, OOM). The journal
is written *before* each click that changes the portal (write-ahead), so the next run
knows whether an account may already exist and resumes instead of creating it twice.

One row per supplier (keyed by SIRET). Every write is a short transaction committed
before the method returns (``synchronous=FULL``: durable even across a power loss).
SQLite in WAL mode lets ``chorus-bot status`` read while a batch writes. The storage
sits behind the small abstract ``Journal`` interface: ``Journal(state_db)`` opens the SQLite
one for a path and the PostgreSQL one (``bot.journal_pg``) for a ``postgresql://`` URL.

``RunLock`` keeps two runs from working on one journal at the same time (``RunLock(state_db)``
also picks the lock that fits the journal).
"""
from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.models import RegistrationResult, Status, Supplier
from bot.postgres import is_postgres_url
from bot.private import private_dir, private_opener, private_sqlite
from bot.sqlite_wal import ensure_wal

BUSY_TIMEOUT_S = 30.0


class Checkpoint(StrEnum):
    """How far the portal-changing part of the journey went (see ARCHITECTURE.md).

    Each is written BEFORE the action it names, so after a crash the truth is
    "at most this far": ``creating_account`` means the step-3 Validate may or may not
    have been pressed.
    """

    new = "new"
    creating_account = "creating_account"  # before step-3 "Validate" (creates the account, sends the mail)
    account_created = "account_created"  # step 4 seen; fields: mail_since
    activating = "activating"  # credentials stored, before the activation "Validate"
    # The account-first journey (portal.md "The live portal's journey today"): the user
    # account, its password, the log-in, then the structure.
    requesting_user_account = "requesting_user_account"  # before "Create my account"; fields: mail_since
    user_account_created = "user_account_created"  # "Your account has been created" seen; fields: mail_since
    setting_password = "setting_password"  # credentials stored, before the activation's "Submit"
    password_set = "password_set"  # "Your account is activated" seen
    logged_in = "logged_in"  # the one-time code was taken (the structure not yet asked for)
    creating_structure = "creating_structure"  # before the work areas' "Validate" (creates the structure)
    done = "done"  # activated (and, account first, the structure created)


ACCOUNT_FIRST_CHECKPOINTS = frozenset({
    Checkpoint.requesting_user_account, Checkpoint.user_account_created, Checkpoint.setting_password,
    Checkpoint.password_set, Checkpoint.logged_in, Checkpoint.creating_structure,
})
"""Checkpoints only the account-first journey writes: a supplier resumed from one of them
goes on with that journey whatever CHORUS_JOURNEY says."""


RUNNING = "running"
"""Journal status of a supplier whose attempt has started and not finished (or was killed)."""


@dataclass(frozen=True)
class JournalEntry:
    """One supplier as the journal knows it. ``status`` is ``RUNNING`` or a ``Status`` value."""

    siret: str
    email: str
    supplier: Supplier
    status: str
    checkpoint: Checkpoint
    step: str | None = None
    attempts: int = 0
    run_id: str | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    mail_since: datetime | None = None
    last_error: str | None = None
    message: str | None = None
    result: RegistrationResult | None = None
    trace: str | None = None
    artifacts: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> Status | None:
        """The final status of the last finished attempt, None while running or interrupted."""
        return None if self.status == RUNNING else Status(self.status)


@dataclass(frozen=True)
class RunRecord:
    """One batch run, so that its report can be rebuilt later (``chorus-bot report``).

    ``settings``: what the report shows of the run's settings, never a secret. ``results``:
    the run's report lines (bad rows and suppliers left alone included), None while the run
    goes on or when it was killed before its end."""

    run_id: str
    started_at: datetime
    settings: dict[str, Any] = field(default_factory=dict)
    finished_at: datetime | None = None
    results: list[RegistrationResult] | None = None


def is_final(entry: JournalEntry | None, retry_failed: bool = False) -> bool:
    """Whether a new run must leave this supplier alone.

    Activated: always final. Business outcomes, and ``failed`` before any account was
    created: final unless ``--retry-failed`` (a person decides). Not final, resumed: a
    running entry (its run was killed), ``pending_activation`` (the mail has not come
    yet) and a ``failed`` one whose account may exist (checkpoint past ``new``): that
    account only waits to be activated, and resuming it from its checkpoint is safe.
    """
    if entry is None or entry.status == RUNNING:
        return False
    status = Status(entry.status)
    if status is Status.activated:
        return True
    if status is Status.pending_activation:
        return False
    if status is Status.failed and entry.checkpoint is not Checkpoint.new:
        return False
    return not retry_failed


class Journal(ABC):
    """The journal interface. ``Journal(path)`` opens the SQLite implementation."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "Journal":
        # The contract (ARCHITECTURE.md) constructs ``Journal(state_db)``: route it by its kind.
        if cls is Journal:
            if args and is_postgres_url(args[0]):
                from bot.journal_pg import PostgresJournal

                cls = PostgresJournal
            else:
                cls = SqliteJournal
        return super().__new__(cls)

    @abstractmethod
    def get(self, siret: str) -> JournalEntry | None: ...

    @abstractmethod
    def all(self) -> list[JournalEntry]:
        """Every supplier, in the order they were first started."""

    @abstractmethod
    def start_attempt(self, supplier: Supplier, run_id: str) -> JournalEntry:
        """Record a new attempt (attempts += 1, status running); keeps the checkpoint reached."""

    def checkpoint(self, siret: str, checkpoint: Checkpoint, **fields: Any) -> None:
        """Write-ahead: durable when this returns. ``fields``: see ``CHECKPOINT_FIELDS``."""
        self._set(siret, {"checkpoint": Checkpoint(checkpoint).value, **fields})

    def update(self, siret: str, **fields: Any) -> None:
        """Record progress that changes nothing on the portal (step reached, last error...)."""
        self._set(siret, fields)

    @abstractmethod
    def _set(self, siret: str, fields: dict[str, Any]) -> None:
        """Write ``update_columns(fields)`` to the supplier's row in one committed statement;
        KeyError when the journal does not know the supplier."""

    @abstractmethod
    def finish(self, result: RegistrationResult) -> None:
        """Record the outcome of an attempt (``activated`` also sets the checkpoint ``done``)."""

    @abstractmethod
    def start_run(self, run_id: str, settings: dict[str, Any]) -> None:
        """Record that a batch run starts, with the settings its report shows (never a secret)."""

    @abstractmethod
    def finish_run(self, run_id: str, results: list[RegistrationResult]) -> None:
        """Record the end of a run and its report lines."""

    @abstractmethod
    def run(self, run_id: str | None = None) -> RunRecord | None:
        """That run, or the latest one started; None when the journal holds no such run."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


CHECKPOINT_FIELDS = frozenset({"step", "mail_since", "last_error", "message", "trace", "artifacts"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS suppliers (
    siret          TEXT PRIMARY KEY,
    email          TEXT NOT NULL,
    supplier_json  TEXT NOT NULL,
    status         TEXT NOT NULL,
    checkpoint     TEXT NOT NULL,
    step           TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    run_id         TEXT,
    started_at     TEXT,
    updated_at     TEXT,
    finished_at    TEXT,
    mail_since     TEXT,
    last_error     TEXT,
    message        TEXT,
    result_json    TEXT,
    trace          TEXT,
    artifacts_json TEXT
)
"""

# Added after the suppliers table: a journal written before it exists gets it at its next run.
_RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id        TEXT PRIMARY KEY,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    settings_json TEXT NOT NULL,
    results_json  TEXT
)
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _iso(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class ThreadConnections:
    """One database connection per thread (and per process after a fork), all closed by ``close()``.

    A subclass opens one with ``_open_connection()``; ``_conn()`` gives the calling thread's."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._conns: list[Any] = []
        self._conns_lock = threading.Lock()

    def _open_connection(self) -> Any:
        raise NotImplementedError

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid() or getattr(conn, "closed", False):
            conn = self._open_connection()
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        self._local = threading.local()


class SqliteJournal(ThreadConnections, Journal):
    """SQLite (WAL) journal. One connection per thread (and per process after a fork)."""

    def __init__(self, db_path: Path | str):
        super().__init__()
        self.db_path = private_sqlite(db_path)  # personal data: 0600, as are its -wal and -shm
        exists = self._conn().execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'suppliers'"
        ).fetchone()
        if not exists:  # readers (`chorus-bot status`) never wait for a running batch's writes
            with self._write() as db:
                db.execute(_SCHEMA)

    # -- connections -----------------------------------------------------------------

    def _open_connection(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        ensure_wal(conn)
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    class _Tx:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: takes the write lock up front (no upgrade deadlock)."""

        def __init__(self, conn: sqlite3.Connection):
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type, *rest) -> None:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")

    def _write(self) -> "_Tx":
        return self._Tx(self._conn())

    # -- reads -----------------------------------------------------------------------

    def get(self, siret: str) -> JournalEntry | None:
        row = self._conn().execute("SELECT * FROM suppliers WHERE siret = ?", (siret,)).fetchone()
        return _entry(row) if row else None

    def all(self) -> list[JournalEntry]:
        rows = self._conn().execute("SELECT * FROM suppliers ORDER BY rowid").fetchall()
        return [_entry(row) for row in rows]

    # -- writes ----------------------------------------------------------------------

    def start_attempt(self, supplier: Supplier, run_id: str) -> JournalEntry:
        now = _now()
        with self._write() as db:
            db.execute(
                """
                INSERT INTO suppliers (siret, email, supplier_json, status, checkpoint, attempts,
                                       run_id, started_at, updated_at)
                VALUES (:siret, :email, :supplier, :running, :new, 1, :run_id, :now, :now)
                ON CONFLICT(siret) DO UPDATE SET
                    email = excluded.email, supplier_json = excluded.supplier_json,
                    status = excluded.status, attempts = suppliers.attempts + 1,
                    run_id = excluded.run_id, updated_at = excluded.updated_at,
                    started_at = CASE WHEN suppliers.run_id IS excluded.run_id
                                      THEN suppliers.started_at ELSE excluded.started_at END,
                    finished_at = NULL
                """,
                {
                    "siret": supplier.siret,
                    "email": supplier.email,
                    "supplier": supplier.model_dump_json(),
                    "running": RUNNING,
                    "new": Checkpoint.new.value,
                    "run_id": run_id,
                    "now": now,
                },
            )
        entry = self.get(supplier.siret)
        assert entry is not None
        return entry

    def _set(self, siret: str, fields: dict[str, Any]) -> None:
        columns = update_columns(fields)
        assignments = ", ".join(f"{name} = :{name}" for name in columns)
        with self._write() as db:
            cur = db.execute(f"UPDATE suppliers SET {assignments} WHERE siret = :siret", {**columns, "siret": siret})
            if cur.rowcount != 1:
                raise KeyError(f"SIRET {siret} is not in the journal (start_attempt first)")

    def finish(self, result: RegistrationResult) -> None:
        now = _now()
        fields: dict[str, Any] = {
            "status": result.status.value,
            "message": result.message,
            "result_json": result.model_dump_json(),
            "trace": result.trace,
            "artifacts_json": json.dumps(result.artifacts),
            "finished_at": _iso(result.finished_at) or now,
            "updated_at": now,
            "siret": result.siret,
        }
        done = ", checkpoint = :done" if result.status is Status.activated else ""
        error = ", last_error = :message" if result.status is Status.failed else ""
        step = ", step = :step" if result.step else ""
        with self._write() as db:
            cur = db.execute(
                f"""UPDATE suppliers SET status = :status, message = :message, result_json = :result_json,
                        trace = :trace, artifacts_json = :artifacts_json, finished_at = :finished_at,
                        updated_at = :updated_at{done}{error}{step}
                    WHERE siret = :siret""",
                {**fields, "done": Checkpoint.done.value, "step": result.step},
            )
            if cur.rowcount != 1:
                raise KeyError(f"SIRET {result.siret} is not in the journal (start_attempt first)")

    # -- runs ------------------------------------------------------------------------

    def start_run(self, run_id: str, settings: dict[str, Any]) -> None:
        with self._write() as db:
            db.execute(_RUNS_SCHEMA)
            db.execute(
                "INSERT INTO runs (run_id, started_at, settings_json) VALUES (?, ?, ?)",
                (run_id, _now(), json.dumps(settings, ensure_ascii=False)),
            )

    def finish_run(self, run_id: str, results: list[RegistrationResult]) -> None:
        lines = json.dumps([result.model_dump(mode="json") for result in results], ensure_ascii=False)
        with self._write() as db:
            db.execute("UPDATE runs SET finished_at = ?, results_json = ? WHERE run_id = ?", (_now(), lines, run_id))

    def run(self, run_id: str | None = None) -> RunRecord | None:
        db = self._conn()
        if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone():
            return None
        if run_id is None:
            row = db.execute("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1").fetchone()
        else:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        results = json.loads(row["results_json"]) if row["results_json"] else None
        return RunRecord(
            run_id=row["run_id"],
            started_at=datetime.fromisoformat(row["started_at"]),
            settings=json.loads(row["settings_json"]),
            finished_at=_dt(row["finished_at"]),
            results=None if results is None else [RegistrationResult.model_validate(r) for r in results],
        )


def update_columns(fields: dict[str, Any]) -> dict[str, Any]:
    """The columns that ``checkpoint()`` / ``update()`` write for ``fields``, ``updated_at``
    included; ValueError for a field the journal does not have (either journal)."""
    unknown = set(fields) - CHECKPOINT_FIELDS - {"checkpoint"}
    if unknown:
        raise ValueError(f"unknown journal field(s): {', '.join(sorted(unknown))}")
    columns = {name: _column_value(name, value) for name, value in fields.items()}
    columns = {("artifacts_json" if k == "artifacts" else k): v for k, v in columns.items()}
    columns["updated_at"] = _now()
    return columns


def _column_value(name: str, value: Any) -> Any:
    if name == "artifacts":
        return json.dumps(list(value or []))
    if name == "mail_since":
        return _iso(value)
    return value


def _entry(row: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        siret=row["siret"],
        email=row["email"],
        supplier=Supplier.model_validate_json(row["supplier_json"]),
        status=row["status"],
        checkpoint=Checkpoint(row["checkpoint"]),
        step=row["step"],
        attempts=row["attempts"],
        run_id=row["run_id"],
        started_at=_dt(row["started_at"]),
        updated_at=_dt(row["updated_at"]),
        finished_at=_dt(row["finished_at"]),
        mail_since=_dt(row["mail_since"]),
        last_error=row["last_error"],
        message=row["message"],
        result=RegistrationResult.model_validate_json(row["result_json"]) if row["result_json"] else None,
        trace=row["trace"],
        artifacts=json.loads(row["artifacts_json"]) if row["artifacts_json"] else [],
    )


def shown_state_db(state_db: Path | str) -> str:
    """CHORUS_STATE_DB as messages show it (a URL's password masked)."""
    if is_postgres_url(state_db):
        from bot.postgres import shown_url

        return shown_url(str(state_db))
    return str(state_db)


def journal_exists(state_db: Path | str) -> bool:
    """Whether a journal is there to read (nothing is created): the file, or a migrated database."""
    if is_postgres_url(state_db):
        from bot.postgres import schema_version

        return schema_version(str(state_db)) > 0
    return Path(state_db).exists()


class LockBusy(Exception):
    """Another run holds the journal. ``str(exc)`` is the one line the user sees."""


class RunLock:
    """An exclusive lock on one journal, so two runs never overlap.

    ``flock`` on ``<db>.lock``: the kernel releases it when the holder's process dies,
    even by SIGKILL, so a crash never leaves a stale lock behind. The file records the
    holder's pid and start time, only to say who holds it.
    """

    def __new__(cls, db_path: Path | str, **kwargs: Any) -> "RunLock":
        if cls is RunLock and is_postgres_url(db_path):
            from bot.journal_pg import PgRunLock

            cls = PgRunLock
        return super().__new__(cls)

    def __init__(self, db_path: Path | str):
        db_path = Path(db_path)
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self, wait: bool = False) -> bool:
        """Take the lock; with ``wait=False`` return False at once when it is held."""
        if self._fd is not None:
            return True
        private_dir(self.path.parent)
        fd = private_opener(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {_now()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> str:
        """Who holds the lock, e.g. 'pid 1234 since 2026-…', or '' when it is free."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return ""
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return ""
        finally:
            os.close(fd)

    def __enter__(self) -> "RunLock":
        if not self.acquire(wait=False):
            raise LockBusy(f"another run holds the journal {self.path} ({self.holder()})")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
