"""The PostgreSQL state DB: versioned migrations, the credential store, the URL's password.

The journal's own behaviour is checked against both kinds in test_journal.py; here is what
only PostgreSQL has. Each test gets a fresh database on the throw-away server (``pg_url``).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import psycopg
import pytest

from bot.credentials import WRONG_KEY, CredentialStore
from bot.credentials_pg import PostgresCredentialStore
from bot.errors import ConfigError
from bot.journal import Journal, journal_exists
from bot.postgres import MIGRATIONS, connect, migrate, shown_url
from bot.secrets import registry
from bot.settings import load_settings

KEY = "a long passphrase for the tests"


def _versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM chorus_bot_migrations ORDER BY version")]


def test_a_new_database_is_migrated_once_even_by_workers_starting_together(pg_url):
    assert journal_exists(pg_url) is False  # asking creates nothing
    code = textwrap.dedent("""
        import sys
        from bot.journal import Journal
        Journal(sys.argv[1]).close()
        print("ok")
    """)
    children = [subprocess.Popen([sys.executable, "-c", code, pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(4)]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0 and out.strip() == "ok", err
    assert _versions(pg_url) == [m.version for m in MIGRATIONS]
    assert journal_exists(pg_url) is True
    assert migrate(pg_url) == []  # nothing left to apply
    with psycopg.connect(pg_url) as conn:
        tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"suppliers", "runs", "credentials", "credential_key", "procrastinate_jobs", "queued_runs"} <= tables


def test_a_database_migrated_by_a_newer_bot_is_refused_not_written(pg_url, monkeypatch):
    Journal(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO chorus_bot_migrations (version, name) VALUES (99, 'from a newer bot')")
    monkeypatch.setattr("bot.postgres._MIGRATED", set())
    with pytest.raises(ConfigError, match="schema version 99, newer than this chorus-bot knows"):
        Journal(pg_url)


def test_an_unreachable_server_is_one_line_without_the_password(postgres):
    url = f"postgresql://chorus:Sup3r-S3cret-pw@127.0.0.1:{postgres.port + 1 if postgres.port < 65535 else 1}/nope"
    with pytest.raises(ConfigError) as caught:
        connect(url)
    message = str(caught.value)
    assert message.startswith("CHORUS_STATE_DB: cannot connect to postgresql://chorus:***@127.0.0.1:")
    assert "Sup3r-S3cret-pw" not in message and "\n" not in message
    assert "Sup3r-S3cret-pw" in load_settings(state_db=url).known_secrets()  # masked in every log too
    assert registry.mask("pw Sup3r-S3cret-pw") != "pw Sup3r-S3cret-pw"
    assert shown_url("postgresql://chorus@h:5/db") == "postgresql://chorus@h:5/db"


def test_credentials_round_trip_through_postgresql_encrypted(pg_url):
    store = CredentialStore(pg_url, KEY)
    assert isinstance(store, PostgresCredentialStore)
    store.put("12345678901234", "ap@ssc.example", "Pa55word!-of-twenty", "Your first pet?", "answer-of-sixteen")
    again = CredentialStore(pg_url, KEY).get("12345678901234")  # another worker, same key
    assert (again.password, again.answer, again.email) == ("Pa55word!-of-twenty", "answer-of-sixteen", "ap@ssc.example")
    assert CredentialStore(pg_url, KEY).get("99999999999999") is None
    with psycopg.connect(pg_url) as conn:
        dump = b"".join(bytes(row[0]) + bytes(row[1]) for row in conn.execute(
            "SELECT password_enc, answer_enc FROM credentials"))
    assert b"Pa55word" not in dump and b"answer-of" not in dump
    with pytest.raises(ConfigError, match=WRONG_KEY):
        CredentialStore(pg_url, "another passphrase entirely")


def test_a_postgresql_store_needs_the_secret_key(pg_url):
    with pytest.raises(ConfigError, match="CHORUS_SECRET_KEY is not set: a PostgreSQL CHORUS_STATE_DB needs it"):
        CredentialStore(pg_url, None)
