"""Credentials at rest: they come back with the right key, only with it, and never in clear on disk.

Keys: a random key (``credentials --new-key``) is used as is; a passphrase goes through scrypt
with the store's own salt; stores of the older format (a bare SHA-256 of the secret) are
re-encrypted on first open without losing a credential.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import sqlite3
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from loguru import logger
from pydantic import SecretStr

from bot.credentials import (
    PASSWORD_SPECIALS,
    SECRET_QUESTIONS,
    CredentialStore,
    generate_answer,
    generate_password,
    new_key,
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
    store = CredentialStore(tmp_path / "s.sqlite3", new_key())
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
    password, answer = _store_one(CredentialStore(db, new_key()))
    raw = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.name.startswith("s.sqlite3"))
    assert EMAIL.encode() in raw  # the row is there (the email is not a secret)...
    assert password.encode() not in raw and answer.encode() not in raw  # ...its secrets are not


def test_table_schema_and_wal(tmp_path):
    db = tmp_path / "s.sqlite3"
    CredentialStore(db, new_key())
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in conn.execute("PRAGMA table_info(credentials)")]
        key_columns = [row[1] for row in conn.execute("PRAGMA table_info(credential_key)")]
    assert columns == ["siret", "email", "password_enc", "question", "answer_enc", "stored_at"]
    assert key_columns == ["kdf", "salt", "n", "r", "p", "check_enc", "created_at"]


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
    password, answer = _store_one(CredentialStore(tmp_path / "s.sqlite3", new_key()))
    masked = registry.mask(f"typed {password} then {answer}")
    assert password not in masked and answer not in masked


# -- keys ------------------------------------------------------------------------------------


def _key_row(db: Path) -> tuple:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT kdf, salt, n, r, p FROM credential_key").fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def _sha256_fernet(secret: str) -> Fernet:
    """The key of the older format: a bare SHA-256 of the secret."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def test_a_passphrase_is_stretched_by_scrypt_with_a_salt_of_the_store(tmp_path):
    first, second = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    password, _ = _store_one(CredentialStore(first, "correct horse battery staple"))
    CredentialStore(second, "correct horse battery staple")
    kdf, salt, n, r, p = _key_row(first)
    assert (kdf, n, r, p) == ("scrypt", 2**17, 8, 1) and len(salt) == 16
    assert _key_row(second)[1] != salt  # a salt per store: one guess does not try every store
    with sqlite3.connect(first) as conn:
        token = conn.execute("SELECT password_enc FROM credentials").fetchone()[0]
    with pytest.raises(InvalidToken):  # the bare SHA-256 of the passphrase no longer opens it
        _sha256_fernet("correct horse battery staple").decrypt(token)
    expected = hashlib.scrypt(b"correct horse battery staple", salt=salt, n=n, r=r, p=p, maxmem=2**28, dklen=32)
    assert Fernet(base64.urlsafe_b64encode(expected)).decrypt(token).decode() == password


def test_a_random_key_is_used_as_is_and_new_keys_are_random(tmp_path):
    keys = {new_key() for _ in range(20)}
    assert len(keys) == 20 and all(len(base64.urlsafe_b64decode(k)) == 32 for k in keys)
    key = keys.pop()
    db = tmp_path / "s.sqlite3"
    password, _ = _store_one(CredentialStore(db, key))
    assert _key_row(db) == ("raw", None, None, None, None)
    with sqlite3.connect(db) as conn:
        token = conn.execute("SELECT password_enc FROM credentials").fetchone()[0]
    assert Fernet(key).decrypt(token).decode() == password


def test_a_wrong_key_is_refused_when_the_store_opens_even_with_no_row_yet(tmp_path):
    db = tmp_path / "s.sqlite3"
    CredentialStore(db, new_key())  # the store exists, nothing stored yet
    for other in (new_key(), "a passphrase instead of the key"):
        with pytest.raises(ConfigError, match="^CHORUS_SECRET_KEY does not decrypt the stored credentials$"):
            CredentialStore(db, other)


def test_the_new_key_command_prints_a_key_and_how_to_set_it(tmp_path):
    command = [str(Path(sys.executable).with_name("chorus-bot")), "credentials", "--new-key"]
    runs = [subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
    keys = [run.stdout.strip() for run in runs]
    assert keys[0] != keys[1] and all(len(base64.urlsafe_b64decode(key)) == 32 for key in keys)
    assert "CHORUS_SECRET_KEY" in runs[0].stderr and keys[0] not in runs[0].stderr
    assert list(tmp_path.iterdir()) == []  # no store touched, nothing written
    password, _ = _store_one(CredentialStore(tmp_path / "s.sqlite3", keys[0]))
    assert _key_row(tmp_path / "s.sqlite3")[0] == "raw"
    assert CredentialStore(tmp_path / "s.sqlite3", keys[0]).get(SIRET).password == password


# -- stores of the older format ------------------------------------------------------------------

_OLD_SCHEMA = """CREATE TABLE credentials (siret TEXT PRIMARY KEY, email TEXT NOT NULL,
    password_enc BLOB NOT NULL, question TEXT NOT NULL, answer_enc BLOB NOT NULL, stored_at TEXT NOT NULL)"""


def _old_store(db: Path, secret: str, count: int = 3) -> dict[str, tuple[str, str]]:
    """A state DB as the older version wrote it: the journal's WAL DB, the credentials table,
    rows encrypted with the SHA-256 of the secret, no key table. Returns siret -> (password, answer)."""
    fernet = _sha256_fernet(secret)
    stored = {}
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_OLD_SCHEMA)
        for i in range(count):
            siret = f"{73282932000074 + i * 1000}"
            password, answer = generate_password(EMAIL), generate_answer()
            conn.execute(
                "INSERT INTO credentials VALUES (?, ?, ?, ?, ?, ?)",
                (siret, f"ap+{i}@ssc.example", fernet.encrypt(password.encode()), SECRET_QUESTIONS[i % 5],
                 fernet.encrypt(answer.encode()), "2026-01-05T10:00:00+00:00"),
            )
            stored[siret] = (password, answer)
    return stored


def _ciphertexts(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT siret, password_enc, answer_enc FROM credentials ORDER BY siret").fetchall()


@pytest.mark.parametrize("secret", [Fernet.generate_key().decode(), "the passphrase of 2025"], ids=["random-key", "passphrase"])
def test_an_old_store_is_migrated_on_first_open_without_losing_a_credential(tmp_path, secret):
    db = tmp_path / "state.sqlite3"
    stored = _old_store(db, secret)
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    try:
        store = CredentialStore(db, secret)
    finally:
        logger.remove(sink)
    for siret, (password, answer) in stored.items():
        got = store.get(siret)
        assert (got.password, got.answer, got.stored_at.year) == (password, answer, 2026)
    assert _key_row(db)[0] == ("raw" if len(secret) == 44 else "scrypt")
    old = _sha256_fernet(secret)
    for _, password_enc, answer_enc in _ciphertexts(db):  # every row re-encrypted: the old key opens none
        for token in (password_enc, answer_enc):
            with pytest.raises(InvalidToken):
                old.decrypt(token)
    assert any("re-encrypted" in line for line in lines) and not any(secret in line for line in lines)
    again = CredentialStore(db, SecretStr(secret))  # a later process: nothing left to migrate
    assert {s: (again.get(s).password, again.get(s).answer) for s in stored} == stored


def test_an_old_store_is_left_untouched_by_a_wrong_key_or_an_unreadable_row(tmp_path):
    db = tmp_path / "state.sqlite3"
    stored = _old_store(db, "the right key")
    before = _ciphertexts(db)
    with pytest.raises(ConfigError, match="does not decrypt"):
        CredentialStore(db, "another key")
    assert _ciphertexts(db) == before and _key_table_is_empty(db)
    with sqlite3.connect(db) as conn:  # one row the right key cannot open: all or nothing
        conn.execute("UPDATE credentials SET answer_enc = ? WHERE siret = ?", (b"garbage", max(stored)))
    before = _ciphertexts(db)
    with pytest.raises(ConfigError, match="does not decrypt"):
        CredentialStore(db, "the right key")
    assert _ciphertexts(db) == before and _key_table_is_empty(db)


def _key_table_is_empty(db: Path) -> bool:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM credential_key").fetchone()[0] == 0


def test_an_old_key_file_store_migrates_and_keeps_its_key_file(tmp_path):
    db = tmp_path / "state" / "chorus.sqlite3"
    db.parent.mkdir()
    old_secret = secrets.token_urlsafe(32)  # what the older version wrote into secret.key
    key_file = db.parent / "secret.key"
    key_file.write_text(old_secret + "\n")
    os.chmod(key_file, 0o600)
    stored = _old_store(db, old_secret, count=1)
    store = CredentialStore(db, None)
    assert {s: (store.get(s).password, store.get(s).answer) for s in stored} == stored
    assert key_file.read_text().strip() == old_secret


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
