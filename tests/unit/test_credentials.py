"""Credentials at rest: they come back with the right key, only with it, and never in clear on disk."""
from __future__ import annotations

import re
import sqlite3
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import SecretStr

from bot.credentials import (
    PASSWORD_SPECIALS,
    SECRET_QUESTIONS,
    CredentialStore,
    generate_answer,
    generate_password,
    pick_question,
)
from bot.errors import ConfigError
from bot.secrets import registry

SIRET = "73282932000074"
EMAIL = "ap+dupont@ssc.example"


def _store_one(store: CredentialStore) -> tuple[str, str]:
    password, answer = generate_password(EMAIL), generate_answer()
    store.put(SIRET, EMAIL, password, SECRET_QUESTIONS[2], answer)
    return password, answer


def test_round_trip_gives_back_what_was_stored(tmp_path):
    db = tmp_path / "state" / "deep" / "chorus.sqlite3"  # parent folders are created
    password, answer = _store_one(CredentialStore(db, "any passphrase works"))
    got = CredentialStore(db, "any passphrase works").get(SIRET)  # a later process
    assert (got.siret, got.email, got.password, got.question, got.answer) == (
        SIRET, EMAIL, password, SECRET_QUESTIONS[2], answer
    )
    assert got.stored_at.tzinfo is not None
    assert password not in repr(got) and answer not in repr(got)


def test_settings_secret_str_is_accepted(tmp_path):
    db = tmp_path / "s.sqlite3"
    password, _ = _store_one(CredentialStore(db, SecretStr("k1")))
    assert CredentialStore(db, "k1").get(SIRET).password == password


def test_put_replaces_and_unknown_siret_is_none(tmp_path):
    store = CredentialStore(tmp_path / "s.sqlite3", "k")
    _store_one(store)
    store.put(SIRET, EMAIL, "Second-Passw0rd!", SECRET_QUESTIONS[0], "second answer")
    assert store.get(SIRET).password == "Second-Passw0rd!"
    assert store.get("99999999999999") is None


def test_wrong_key_is_a_clear_config_error(tmp_path):
    db = tmp_path / "s.sqlite3"
    _store_one(CredentialStore(db, "the right key"))
    with pytest.raises(ConfigError) as caught:
        CredentialStore(db, "another key").get(SIRET)
    assert str(caught.value) == "CHORUS_SECRET_KEY does not decrypt the stored credentials"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_database_file_holds_no_plaintext(tmp_path):
    db = tmp_path / "s.sqlite3"
    password, answer = _store_one(CredentialStore(db, "k"))
    raw = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.name.startswith("s.sqlite3"))
    assert EMAIL.encode() in raw  # the row is there (the email is not a secret)...
    assert password.encode() not in raw and answer.encode() not in raw  # ...its secrets are not


def test_table_schema_and_wal(tmp_path):
    db = tmp_path / "s.sqlite3"
    CredentialStore(db, "k")
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in conn.execute("PRAGMA table_info(credentials)")]
    assert columns == ["siret", "email", "password_enc", "question", "answer_enc", "stored_at"]


def test_without_secret_key_a_0600_key_file_is_created_and_reused(tmp_path):
    db = tmp_path / "state" / "s.sqlite3"
    password, _ = _store_one(CredentialStore(db, None))
    key_file = db.parent / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_bytes()
    assert CredentialStore(db, None).get(SIRET).password == password
    assert key_file.read_bytes() == content  # reused, not regenerated
    assert key_file.read_text().strip() in registry.values()  # masked wherever it would leak


def test_processes_starting_together_share_one_key_file(tmp_path):
    db = tmp_path / "s.sqlite3"
    with ThreadPoolExecutor(8) as pool:
        stores = list(pool.map(lambda _: CredentialStore(db, None), range(8)))
    password, _ = _store_one(stores[0])
    assert all(store.get(SIRET).password == password for store in stores)
    assert sorted(p.name for p in tmp_path.iterdir() if "secret" in p.name) == ["secret.key"]  # no leftovers


def test_put_registers_the_secrets_for_masking(tmp_path):
    password, answer = _store_one(CredentialStore(tmp_path / "s.sqlite3", "k"))
    masked = registry.mask(f"typed {password} then {answer}")
    assert password not in masked and answer not in masked


@pytest.mark.parametrize("email", ["jean.dupont@example.fr", "ap+a1b2c3@ssc.example", "ab@x.fr", "a@x.fr"])
def test_generated_passwords_meet_the_portals_rules(email):
    local = email.split("@")[0].casefold()
    base = local.split("+")[0]
    passwords = [generate_password(email) for _ in range(500)]
    assert len(set(passwords)) == 500
    for password in passwords:
        assert len(password) == 20 and 12 <= len(password) <= 64
        assert re.search(r"[A-Z]", password) and re.search(r"[a-z]", password) and re.search(r"\d", password)
        assert any(ch in PASSWORD_SPECIALS for ch in password)
        assert all(ch.isascii() and (ch.isalnum() or ch in PASSWORD_SPECIALS) for ch in password)
        assert local not in password.casefold() and base not in password.casefold()


def test_answers_and_questions():
    answers = {generate_answer() for _ in range(100)}
    assert len(answers) == 100
    assert all(len(a) >= 3 and a.isalpha() for a in answers)
    assert len(SECRET_QUESTIONS) == 5
    assert {pick_question() for _ in range(200)} == set(SECRET_QUESTIONS)
