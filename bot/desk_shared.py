"""One captcha desk for every worker of a shared batch (``worker --desk``, ``desk --serve``).

The desk of ``batch --desk`` (``bot.desk``) lives in the batch's process: its workers are
threads that hand it their images in memory. Workers on several machines share the
PostgreSQL state DB instead, so the desk's queue is a table of it, ``captcha_requests``
(migration 5):

- a worker started with ``--desk`` (``SharedDeskClient``, a ``CaptchaDesk``) writes the
  image, the supplier and its try there, then asks every ``POLL_S`` for the answer, until
  CHORUS_DESK_TIMEOUT_S; the row is deleted once answered or given up;
- ``chorus-bot desk --serve`` (``SharedWebDesk``) serves the same page as ``batch --desk``,
  on any machine that reaches the database: its cards are the table's waiting rows, an
  answer is written into its row. One page, however many workers and machines.

A row also says until when its worker waits (``expires_at``): the row of a worker killed
while it waited is never shown, and the next desk that looks deletes it. An answer stays in
the table only until its worker reads it (a second or so); it is registered as a secret in
both processes, so no log line shows it. Nothing else of the desk's security changes: the
page's token, 127.0.0.1 by default, no image or answer in a log.
"""
from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path

from loguru import logger

from bot.desk import SAME_WAIT_S, WebDesk
from bot.models import Supplier
from bot.postgres import connect, migrate
from bot.secrets import registry
from bot.settings import Settings

POLL_S = 0.5  # how often a waiting worker asks for its answer (a person types in seconds)
NOTICE_POLL_S = 2.0  # how often the desk looks whether somebody started waiting (for its notice)


class SharedDeskClient:
    """A worker's side of the shared desk (``bot.captcha.CaptchaDesk``); thread-safe."""

    def __init__(self, url: str, timeout_s: float, worker: str) -> None:
        migrate(url)
        self.url = url
        self.timeout_s = timeout_s
        self.worker = worker
        self._directory: dict[str, tuple[str, str]] = {}
        self._last: dict[str, tuple[float, float]] = {}  # email -> (since, answered at), wall clock
        self._lock = threading.Lock()

    def know(self, supplier: Supplier) -> None:
        """What the card shows of the supplier whose login e-mail this is (before it runs)."""
        with self._lock:
            self._directory[supplier.email.casefold()] = (supplier.siret, supplier.company_name or "")

    def answer(self, image: Path, *, login_email: str, attempt: int, attempts: int) -> str | None:
        key = login_email.casefold()
        now = time.time()
        with self._lock:
            siret, company = self._directory.get(key, ("", ""))
            since, answered = self._last.pop(key, (now, float("-inf")))
        since = since if now - answered <= SAME_WAIT_S else now
        request_id = secrets.token_hex(8)
        with connect(self.url) as db:
            db.execute(
                "INSERT INTO captcha_requests (id, siret, company, login_email, attempt, attempts, image, since,"
                " expires_at, worker) VALUES (%s, %s, %s, %s, %s, %s, %s, to_timestamp(%s),"
                " now() + make_interval(secs => %s), %s)",
                (request_id, siret, company, login_email, attempt, attempts, image.read_bytes(), since,
                 self.timeout_s, self.worker),
            )
            waiting = db.execute("SELECT count(*) FROM captcha_requests WHERE answer IS NULL"
                                 " AND expires_at > now()").fetchone()[0]
            logger.info(f"captcha: waiting for a person at the shared desk (try {attempt} of {attempts};"
                        f" {waiting} supplier(s) waiting)")
            answer = self._wait(db, request_id)
        if answer is None:
            logger.warning(f"captcha: nobody answered at the shared desk within {self.timeout_s:g} s"
                           f" (try {attempt} of {attempts})")
            return None
        with self._lock:
            self._last[key] = (since, time.time())
        logger.info("captcha: the person asked for another image" if answer == "" else "captcha: answered at the desk")
        return answer

    def _wait(self, db, request_id: str) -> str | None:
        deadline = time.monotonic() + self.timeout_s
        try:
            while time.monotonic() < deadline:
                row = db.execute("SELECT answer FROM captcha_requests WHERE id = %s", (request_id,)).fetchone()
                if row is None:
                    return None  # the row went away (a desk cleared it): no answer
                if row[0] is not None:
                    if row[0]:
                        registry.add(row[0], label="captcha")
                    return row[0]
                time.sleep(POLL_S)  # waiting for a person's answer in the database, not for a page
            return None
        finally:
            db.execute("DELETE FROM captcha_requests WHERE id = %s", (request_id,))


class SharedWebDesk(WebDesk):
    """The desk's page (``bot.desk.WebDesk``) over the ``captcha_requests`` table."""

    def __init__(self, settings: Settings, *, host: str, port: int) -> None:
        super().__init__(settings, host=host, port=port)
        self.db_url = str(settings.state_db)
        migrate(self.db_url)
        self._watching = threading.Event()
        self._watcher: threading.Thread | None = None

    def answer(self, image: Path, *, login_email: str, attempt: int, attempts: int) -> str | None:
        raise TypeError("the shared desk's workers use SharedDeskClient")

    def start(self) -> "SharedWebDesk":
        super().start()
        if self._notify:
            self._watching.set()
            self._watcher = threading.Thread(target=self._watch, name="shared-desk-notice", daemon=True)
            self._watcher.start()
        return self

    def stop(self) -> None:
        self._watching.clear()
        super().stop()

    def _watch(self) -> None:
        """CHORUS_DESK_NOTIFY_COMMAND when the desk goes from nobody waiting to somebody."""
        before = 0
        while self._watching.is_set():
            try:
                count = len(self._snapshot())
            except Exception as exc:  # noqa: BLE001 - the next look tries again
                logger.warning(f"shared desk: cannot read the queue ({type(exc).__name__})")
                count = before
            if count and not before:
                self._run_notify(count)
            before = count
            time.sleep(NOTICE_POLL_S)  # a period between two looks at the queue

    def _snapshot(self) -> list[dict]:
        with connect(self.db_url) as db:
            db.execute("DELETE FROM captcha_requests WHERE expires_at <= now()")  # their workers gave up or died
            rows = db.execute(
                "SELECT id, siret, company, login_email, attempt, attempts, extract(epoch FROM now() - since)"
                " FROM captcha_requests WHERE answer IS NULL ORDER BY since, id"
            ).fetchall()
        return [
            {"id": row[0], "siret": row[1], "company": row[2], "login_email": row[3], "attempt": row[4],
             "attempts": row[5], "waited_s": round(float(row[6]), 1), "image": f"image/{row[0]}"}
            for row in rows
        ]

    def _image(self, request_id: str) -> bytes | None:
        with connect(self.db_url) as db:
            row = db.execute("SELECT image FROM captcha_requests WHERE id = %s AND answer IS NULL"
                             " AND expires_at > now()", (request_id,)).fetchone()
        return bytes(row[0]) if row else None

    def _take(self, request_id: str, answer: str) -> bool:
        if answer:
            registry.add(answer, label="captcha")
        with connect(self.db_url) as db:
            done = db.execute("UPDATE captcha_requests SET answer = %s WHERE id = %s AND answer IS NULL"
                              " AND expires_at > now()", (answer, request_id))
            return done.rowcount == 1

    def waiting_count(self) -> int:
        return len(self._snapshot())
