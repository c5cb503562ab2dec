"""The password and secret answer of every account the bot activated, encrypted at rest.

Why store them at all: the bot chooses them (nobody else knows them), and the supplier's
accountant needs them to log in (`chorus-bot credentials --siret S`), as does a resumed
run that must log in to learn whether an activation took. Why encrypted: the state DB is
a plain file that gets copied and backed up.

The Fernet key is derived from CHORUS_SECRET_KEY (any string: SHA-256, urlsafe base64).
Without it, a random key is created once in ``secret.key`` (mode 0600) beside the DB and
reused: the DB alone then does not reveal anything, but whoever has the folder has both.
"""
from __future__ import annotations

import base64
import hashlib
import os
import secrets
import sqlite3
import string
import tempfile
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from loguru import logger
from pydantic import SecretStr

from bot.errors import ConfigError
from bot.labels import SECRET_QUESTIONS
from bot.secrets import registry

KEY_FILE_NAME = "secret.key"


# The portal's password rules: 12 to 64 characters, an upper, a lower, a digit, one of these.
PASSWORD_SPECIALS = "!@#$%^&*()-_=+?."
PASSWORD_LENGTH = 20
ANSWER_LENGTH = 16

_SCHEMA = """
CREATE TABLE IF NOT EXISTS credentials (
    siret TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    password_enc BLOB NOT NULL,
    question TEXT NOT NULL,
    answer_enc BLOB NOT NULL,
    stored_at TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Credentials:
    """One account's log-in secrets. ``repr`` hides the password and the answer."""

    siret: str
    email: str
    password: str = field(repr=False)
    question: str
    answer: str = field(repr=False)
    stored_at: datetime


class CredentialStore:
    """SQLite table ``credentials`` in the state DB (shared with the journal, hence WAL)."""

    def __init__(self, db_path: Path, secret_key: str | SecretStr | None) -> None:
        self._db_path = Path(db_path)
        self._db_path.parent.mkdir(parents=True, exist_ok=True)
        self._fernet = Fernet(_derive_key(_secret_value(secret_key) or self._key_file_secret()))
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def put(self, siret: str, email: str, password: str, question: str, answer: str) -> None:
        """Store (or replace) the account's secrets; registers them for masking first."""
        registry.add(password, "password")
        registry.add(answer, "answer")
        stored_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        row = (
            siret,
            email,
            self._fernet.encrypt(password.encode()),
            question,
            self._fernet.encrypt(answer.encode()),
            stored_at,
        )
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO credentials (siret, email, password_enc, question, answer_enc, stored_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(siret) DO UPDATE SET email=excluded.email,"
                " password_enc=excluded.password_enc, question=excluded.question,"
                " answer_enc=excluded.answer_enc, stored_at=excluded.stored_at",
                row,
            )

    def get(self, siret: str) -> Credentials | None:
        """The stored secrets of ``siret``, or None. A wrong key is a ``ConfigError``."""
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT siret, email, password_enc, question, answer_enc, stored_at"
                " FROM credentials WHERE siret = ?",
                (siret,),
            ).fetchone()
        if row is None:
            return None
        try:
            password = self._fernet.decrypt(row[2]).decode()
            answer = self._fernet.decrypt(row[4]).decode()
        except InvalidToken:
            raise ConfigError("CHORUS_SECRET_KEY does not decrypt the stored credentials") from None
        registry.add(password, "password")
        registry.add(answer, "answer")
        return Credentials(
            siret=row[0],
            email=row[1],
            password=password,
            question=row[3],
            answer=answer,
            stored_at=datetime.fromisoformat(row[5]),
        )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._db_path, timeout=30)

    def _key_file_secret(self) -> str:
        """The content of ``secret.key`` beside the DB, created (0600) on first use.

        Written to a private temporary file, then hard-linked into place: a concurrent
        process either creates it or reads the complete file, never a half-written one.
        """
        path = self._db_path.parent / KEY_FILE_NAME
        if not path.exists():
            secret = secrets.token_urlsafe(32)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-key-")  # mode 0600
            try:
                with os.fdopen(fd, "w", encoding="ascii") as out:
                    out.write(secret + "\n")
                os.link(tmp, path)
                logger.warning(f"CHORUS_SECRET_KEY is not set: created the key file {path} (keep it with the state DB)")
            except FileExistsError:
                pass  # another process was first: use its key
            finally:
                os.unlink(tmp)
        secret = path.read_text(encoding="ascii").strip()
        if not secret:
            raise ConfigError(f"{path} is empty: restore it or set CHORUS_SECRET_KEY")
        registry.add(secret, "secret_key")
        return secret


def _secret_value(secret_key: str | SecretStr | None) -> str | None:
    """Accept a plain string or pydantic's ``SecretStr`` (``settings.secret_key``)."""
    if isinstance(secret_key, SecretStr):
        secret_key = secret_key.get_secret_value()
    return secret_key or None


def _derive_key(secret: str) -> bytes:
    """A Fernet key from any string: SHA-256, urlsafe base64."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode("utf-8")).digest())


def generate_password(login_email: str) -> str:
    """A random password that meets the portal's rules (see ``PASSWORD_SPECIALS``).

    The portal refuses a password containing the login email's local part; we avoid the
    local part with and without its "+detail", case-insensitively. A one-letter local
    part would be in most random passwords, so its letter is left out of the alphabet.
    """
    local = login_email.split("@", 1)[0].casefold()
    forbidden = {part for part in (local, local.split("+", 1)[0]) if part}
    banned = {ch for part in forbidden if len(part) == 1 for ch in (part, part.upper())}
    classes = [
        [ch for ch in chars if ch not in banned]
        for chars in (string.ascii_uppercase, string.ascii_lowercase, string.digits, PASSWORD_SPECIALS)
    ]
    alphabet = [ch for chars in classes for ch in chars]
    rng = secrets.SystemRandom()
    while True:
        chars = [rng.choice(chars) for chars in classes]
        chars += [rng.choice(alphabet) for _ in range(PASSWORD_LENGTH - len(chars))]
        rng.shuffle(chars)
        password = "".join(chars)
        if not any(part in password.casefold() for part in forbidden):
            return password


def generate_answer() -> str:
    """A random secret answer: 16 lower-case letters (easy to read out, nothing to guess)."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(ANSWER_LENGTH))


def pick_question() -> str:
    """One of the portal's secret questions, at random."""
    return secrets.choice(SECRET_QUESTIONS)
