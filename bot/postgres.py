"""The PostgreSQL state DB: ``CHORUS_STATE_DB=postgresql://…`` (several machines, one batch).

What lives there: the journal (``bot.journal_pg``), the encrypted credentials
(``bot.credentials_pg``), the job queue that hands suppliers to workers (``bot.jobqueue``,
procrastinate's tables) and the shared captcha desk's queue (``bot.desk_shared``). Every machine points at the same database.

Versioned migrations: ``MIGRATIONS`` below, applied in order on first use and recorded in
``chorus_bot_migrations``. They run only on the database CHORUS_STATE_DB names (no other is
ever opened), inside one transaction holding an advisory lock, so that workers starting
together apply each once. A database recording a version this bot does not know (a newer
bot migrated it) is refused rather than written with an old schema.

The URL may carry a password: ``shown_url`` is what messages print, and the password is
registered with the secret registry as soon as the URL is parsed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from bot.errors import ConfigError
from bot.secrets import registry

SCHEMES = ("postgresql://", "postgres://")
MIGRATION_LOCK = 0x63686F72  # pg_advisory_xact_lock key while migrating ("chor")
APPLICATION_NAME = "chorus-bot"


def is_postgres_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SCHEMES)


def shown_url(url: str) -> str:
    """The URL as messages show it: the password, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    registry.add(parts.password, "state_db password")
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def connect(url: str, *, autocommit: bool = True):
    """A psycopg connection to the state DB; an unreachable server is a one-line ConfigError."""
    import psycopg

    shown = shown_url(url)
    try:
        return psycopg.connect(url, autocommit=autocommit, application_name=APPLICATION_NAME, connect_timeout=10)
    except psycopg.OperationalError as exc:
        reason = registry.mask((str(exc).strip().splitlines() or ["no answer"])[-1])
        raise ConfigError(f"CHORUS_STATE_DB: cannot connect to {shown}: {reason}") from None


# -- migrations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str | Callable[[], str]

    def text(self) -> str:
        return self.sql if isinstance(self.sql, str) else self.sql()


def _procrastinate_schema() -> str:
    from procrastinate.schema import SchemaManager

    return SchemaManager.get_schema()


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "journal", """
        CREATE TABLE suppliers (
            seq            BIGSERIAL UNIQUE,
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
        );
        CREATE INDEX suppliers_run_id ON suppliers (run_id);
        CREATE TABLE runs (
            seq           BIGSERIAL UNIQUE,
            run_id        TEXT PRIMARY KEY,
            started_at    TEXT NOT NULL,
            finished_at   TEXT,
            settings_json TEXT NOT NULL,
            results_json  TEXT
        );
    """),
    Migration(2, "credentials", """
        CREATE TABLE credentials (
            siret        TEXT PRIMARY KEY,
            email        TEXT NOT NULL,
            password_enc BYTEA NOT NULL,
            question     TEXT NOT NULL,
            answer_enc   BYTEA NOT NULL,
            stored_at    TEXT NOT NULL
        );
        CREATE TABLE credential_key (
            kdf        TEXT NOT NULL,
            salt       BYTEA,
            n          INTEGER,
            r          INTEGER,
            p          INTEGER,
            check_enc  BYTEA NOT NULL,
            created_at TEXT NOT NULL
        );
    """),
    Migration(3, "job queue (procrastinate 3 schema)", _procrastinate_schema),
    Migration(4, "queued runs", """
        CREATE TABLE queued_runs (
            run_id    TEXT PRIMARY KEY,
            queued    INTEGER NOT NULL,
            plan_json TEXT NOT NULL
        );
    """),
    Migration(5, "the shared captcha desk", """
        CREATE TABLE captcha_requests (
            id          TEXT PRIMARY KEY,
            siret       TEXT NOT NULL,
            company     TEXT NOT NULL,
            login_email TEXT NOT NULL,
            attempt     INTEGER NOT NULL,
            attempts    INTEGER NOT NULL,
            image       BYTEA NOT NULL,
            since       TIMESTAMPTZ NOT NULL,
            expires_at  TIMESTAMPTZ NOT NULL,
            worker      TEXT NOT NULL,
            answer      TEXT
        );
    """),
)

_MIGRATED: set[str] = set()  # URLs migrated by this process: later opens skip the check


def migrate(url: str) -> list[int]:
    """Apply the migrations the DB lacks; returns the versions applied (usually none)."""
    if url in _MIGRATED:
        return []
    applied: list[int] = []
    with connect(url, autocommit=False) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS chorus_bot_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM chorus_bot_migrations")}
            unknown = done - {m.version for m in MIGRATIONS}
            if unknown:
                raise ConfigError(
                    f"CHORUS_STATE_DB {shown_url(url)} has schema version {max(unknown)}, newer than this"
                    f" chorus-bot knows ({MIGRATIONS[-1].version}): upgrade chorus-bot"
                )
            for migration in MIGRATIONS:
                if migration.version in done:
                    continue
                conn.execute(migration.text())
                conn.execute(
                    "INSERT INTO chorus_bot_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
                applied.append(migration.version)
    _MIGRATED.add(url)
    if applied:
        from loguru import logger

        logger.info(f"state DB {shown_url(url)}: applied migration(s) {', '.join(map(str, applied))}")
    return applied


def schema_version(url: str) -> int:
    """The highest migration the DB records, 0 for a DB chorus-bot never used (nothing is created)."""
    with connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('chorus_bot_migrations') IS NOT NULL").fetchone()[0]
        if not exists:
            return 0
        return conn.execute("SELECT coalesce(max(version), 0) FROM chorus_bot_migrations").fetchone()[0]
