"""The journal in PostgreSQL (``CHORUS_STATE_DB=postgresql://…``): several machines, one journal.

Same behaviour as ``SqliteJournal`` (the journal test suite runs against both): one row per
supplier, every write one statement committed before the method returns (autocommit), so a
checkpoint is durable, and seen by every other worker, when ``checkpoint()`` returns.
One connection per thread. The tables come from ``bot.postgres.MIGRATIONS``.

``PgRunLock`` is ``RunLock`` for this journal: a session advisory lock, which PostgreSQL
releases when the holder's connection ends, by SIGKILL or a lost machine included (the
server notices a killed process's closed connection within milliseconds, and a lost machine's
within about a minute: the lock's session asks the server for TCP keepalives). A batch
or a registration takes it exclusive; every ``chorus-bot worker`` takes it shared, so that
workers run together but never beside a local batch on the same journal.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.journal import (
    RUNNING, Checkpoint, Journal, JournalEntry, RunLock, RunRecord, ThreadConnections, _dt, _iso, _now,
    update_columns,
)
from bot.models import RegistrationResult, Status, Supplier
from bot.postgres import connect, migrate, shown_url

RUN_LOCK_KEY = 0x63686F73  # the advisory lock a batch run holds ("chos")
LOCK_KEEPALIVES = {"tcp_keepalives_idle": 30, "tcp_keepalives_interval": 10, "tcp_keepalives_count": 3}
_COLUMNS = (
    "siret, email, supplier_json, status, checkpoint, step, attempts, run_id, started_at, updated_at,"
    " finished_at, mail_since, last_error, message, result_json, trace, artifacts_json"
)


class PostgresJournal(ThreadConnections, Journal):
    def __init__(self, url: str):
        super().__init__()
        self.url = url
        self.shown = shown_url(url)
        migrate(url)

    def _open_connection(self):
        return connect(self.url)

    def _execute(self, query: str, params: Any = None):
        return self._conn().execute(query, params)

    # -- reads -----------------------------------------------------------------------

    def get(self, siret: str) -> JournalEntry | None:
        row = self._execute(f"SELECT {_COLUMNS} FROM suppliers WHERE siret = %s", (siret,)).fetchone()
        return _entry(row) if row else None

    def all(self) -> list[JournalEntry]:
        rows = self._execute(f"SELECT {_COLUMNS} FROM suppliers ORDER BY seq").fetchall()
        return [_entry(row) for row in rows]

    # -- writes ----------------------------------------------------------------------

    def start_attempt(self, supplier: Supplier, run_id: str) -> JournalEntry:
        row = self._execute(
            f"""
            INSERT INTO suppliers (siret, email, supplier_json, status, checkpoint, attempts,
                                   run_id, started_at, updated_at)
            VALUES (%(siret)s, %(email)s, %(supplier)s, %(running)s, %(new)s, 1, %(run_id)s, %(now)s, %(now)s)
            ON CONFLICT (siret) DO UPDATE SET
                email = excluded.email, supplier_json = excluded.supplier_json,
                status = excluded.status, attempts = suppliers.attempts + 1,
                run_id = excluded.run_id, updated_at = excluded.updated_at,
                started_at = CASE WHEN suppliers.run_id IS NOT DISTINCT FROM excluded.run_id
                                  THEN suppliers.started_at ELSE excluded.started_at END,
                finished_at = NULL
            RETURNING {_COLUMNS}
            """,
            {
                "siret": supplier.siret, "email": supplier.email, "supplier": supplier.model_dump_json(),
                "running": RUNNING, "new": Checkpoint.new.value, "run_id": run_id, "now": _now(),
            },
        ).fetchone()
        return _entry(row)

    def _set(self, siret: str, fields: dict[str, Any]) -> None:
        columns = update_columns(fields)
        assignments = ", ".join(f"{name} = %({name})s" for name in columns)
        cur = self._execute(f"UPDATE suppliers SET {assignments} WHERE siret = %(siret)s", {**columns, "siret": siret})
        if cur.rowcount != 1:
            raise KeyError(f"SIRET {siret} is not in the journal (start_attempt first)")

    def finish(self, result: RegistrationResult) -> None:
        now = _now()
        done = ", checkpoint = %(done)s" if result.status is Status.activated else ""
        error = ", last_error = %(message)s" if result.status is Status.failed else ""
        step = ", step = %(step)s" if result.step else ""
        cur = self._execute(
            f"""UPDATE suppliers SET status = %(status)s, message = %(message)s, result_json = %(result_json)s,
                    trace = %(trace)s, artifacts_json = %(artifacts_json)s, finished_at = %(finished_at)s,
                    updated_at = %(updated_at)s{done}{error}{step}
                WHERE siret = %(siret)s""",
            {
                "status": result.status.value, "message": result.message, "result_json": result.model_dump_json(),
                "trace": result.trace, "artifacts_json": json.dumps(result.artifacts),
                "finished_at": _iso(result.finished_at) or now, "updated_at": now, "siret": result.siret,
                "done": Checkpoint.done.value, "step": result.step,
            },
        )
        if cur.rowcount != 1:
            raise KeyError(f"SIRET {result.siret} is not in the journal (start_attempt first)")

    # -- runs ------------------------------------------------------------------------

    def start_run(self, run_id: str, settings: dict[str, Any]) -> None:
        self._execute(
            "INSERT INTO runs (run_id, started_at, settings_json) VALUES (%s, %s, %s)",
            (run_id, _now(), json.dumps(settings, ensure_ascii=False)),
        )

    def finish_run(self, run_id: str, results: list[RegistrationResult]) -> None:
        lines = json.dumps([result.model_dump(mode="json") for result in results], ensure_ascii=False)
        self._execute("UPDATE runs SET finished_at = %s, results_json = %s WHERE run_id = %s", (_now(), lines, run_id))

    def run(self, run_id: str | None = None) -> RunRecord | None:
        query = "SELECT run_id, started_at, settings_json, finished_at, results_json FROM runs"
        if run_id is None:
            row = self._execute(query + " ORDER BY started_at DESC, seq DESC LIMIT 1").fetchone()
        else:
            row = self._execute(query + " WHERE run_id = %s", (run_id,)).fetchone()
        if row is None:
            return None
        results = json.loads(row[4]) if row[4] else None
        return RunRecord(
            run_id=row[0], started_at=datetime.fromisoformat(row[1]), settings=json.loads(row[2]),
            finished_at=_dt(row[3]),
            results=None if results is None else [RegistrationResult.model_validate(r) for r in results],
        )


def _entry(row: tuple) -> JournalEntry:
    (siret, email, supplier_json, status, checkpoint, step, attempts, run_id, started_at, updated_at,
     finished_at, mail_since, last_error, message, result_json, trace, artifacts_json) = row
    return JournalEntry(
        siret=siret, email=email, supplier=Supplier.model_validate_json(supplier_json), status=status,
        checkpoint=Checkpoint(checkpoint), step=step, attempts=attempts, run_id=run_id,
        started_at=_dt(started_at), updated_at=_dt(updated_at), finished_at=_dt(finished_at),
        mail_since=_dt(mail_since), last_error=last_error, message=message,
        result=RegistrationResult.model_validate_json(result_json) if result_json else None,
        trace=trace, artifacts=json.loads(artifacts_json) if artifacts_json else [],
    )


class PgRunLock(RunLock):
    """``RunLock`` on a PostgreSQL journal: a session advisory lock on its own connection."""

    def __init__(self, url: str, *, shared: bool = False):
        self.url = url
        self.path = shown_url(url)  # what messages name
        self.shared = shared
        self._conn = None

    def acquire(self, wait: bool = False) -> bool:
        if self._conn is not None:
            return True
        migrate(self.url)
        conn = connect(self.url)
        for name, value in LOCK_KEEPALIVES.items():  # a lost machine's lock goes within a minute, not hours
            conn.execute(f"SET {name} = {value}")
        kind = "_shared" if self.shared else ""
        if wait:
            conn.execute(f"SELECT pg_advisory_lock{kind}(%s)", (RUN_LOCK_KEY,))
        elif not conn.execute(f"SELECT pg_try_advisory_lock{kind}(%s)", (RUN_LOCK_KEY,)).fetchone()[0]:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # ends the session: the lock goes with it
            finally:
                self._conn = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def holder(self) -> str:
        """Who holds it: a batch's session, or how many workers; '' when nobody does."""
        with connect(self.url) as conn:
            rows = conn.execute(
                """SELECT a.client_addr, a.pid, a.backend_start, l.mode FROM pg_locks l
                   JOIN pg_stat_activity a ON a.pid = l.pid
                   WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s AND l.classid = 0
                   ORDER BY a.backend_start""",
                (RUN_LOCK_KEY,),
            ).fetchall()
        if not rows:
            return ""
        if rows[0][3] == "ShareLock":
            return f"{len(rows)} chorus-bot worker(s)"
        addr, pid, since, _ = rows[0]
        where = f"from {addr}" if addr else "on the database host"
        return f"a session {where}, server pid {pid}, since {since.isoformat(timespec='seconds')}"
