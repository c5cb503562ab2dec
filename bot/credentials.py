"""The password and secret answer of every account the bot activated, encrypted at rest.

Why store them at all: the bot chooses them (nobody else knows them), and the supplier's
accountant needs them to log in (`chorus-bot credentials --siret S`), as does a resumed
run that must log in to learn whether an activation took. Why encrypted: the state DB is
a plain file that gets copied and backed up.

The Fernet key comes from CHORUS_SECRET_KEY, in one of two ways, chosen when the store is
made and recorded with it (table ``credential_key``, beside the encrypted rows):

- a random key as ``chorus-bot credentials --new-key`` prints it (32 random bytes, urlsafe
  base64): used as it is, nothing to guess;
- any other string is a passphrase: stretched by scrypt (N=2**17, r=8, p=1) with a random
  salt of the store, so that every guess at a copied state DB costs a fraction of a second
  and 128 MiB, and no guess serves for another store.

The table also keeps a token encrypted with the key, so that a wrong key is refused when
the store is opened, before anything is written with it. Without CHORUS_SECRET_KEY, a random
key is created once in ``secret.key`` (mode 0600) beside the DB and reused: the DB alone
then does not reveal anything, but whoever has the folder has both.

Stores written before keys were recorded were encrypted with a bare SHA-256 of the secret:
the first open with the right secret re-encrypts every row and records the new key, in
one transaction (a crash leaves the old store as it was).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import sqlite3
import string
import tempfile
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from loguru import logger
from pydantic import SecretStr

from bot.errors import ConfigError
from bot.labels import SECRET_QUESTIONS
from bot.postgres import is_postgres_url
from bot.private import private_sqlite
from bot.secrets import registry
from bot.sqlite_wal import ensure_wal

KEY_FILE_NAME = "secret.key"
WRONG_KEY = "CHORUS_SECRET_KEY does not decrypt the stored credentials"

# The portal's password rules: 12 to 64 characters, an upper, a lower, a digit, one of these.
PASSWORD_SPECIALS = "!@#$%^&*()-_=+?."
PASSWORD_LENGTH = 20
ANSWER_LENGTH = 16

# How a key is made from CHORUS_SECRET_KEY (column ``kdf``).
RAW = "raw"  # a random 32-byte key, urlsafe base64, used as it is
SCRYPT = "scrypt"  # a passphrase, stretched
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1  # 128 MiB: OWASP's minimum for scrypt
SALT_BYTES = 16
_SCRYPT_MAXMEM = 256 * 2**20
_CHECK = b"chorus-bot credential key"

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
# One row: how the store's key is made from the secret, and a token that proves the key right.
_KEY_SCHEMA = """
CREATE TABLE IF NOT EXISTS credential_key (
    kdf TEXT NOT NULL,
    salt BLOB,
    n INTEGER,
    r INTEGER,
    p INTEGER,
    check_enc BLOB NOT NULL,
    created_at TEXT NOT NULL
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


@dataclass(frozen=True)
class KeyParams:
    """How the store's Fernet key is made from CHORUS_SECRET_KEY (a row of ``credential_key``)."""

    kdf: str
    salt: bytes | None = None
    n: int | None = None
    r: int | None = None
    p: int | None = None

    @classmethod
    def for_secret(cls, secret: str) -> "KeyParams":
        """The parameters of a new store: a random key is used as is, a passphrase goes to scrypt."""
        if _raw_key(secret) is not None:
            return cls(RAW)
        return cls(SCRYPT, os.urandom(SALT_BYTES), SCRYPT_N, SCRYPT_R, SCRYPT_P)

    def fernet(self, secret: str) -> Fernet:
        """The key these parameters make from ``secret``; ConfigError when it cannot be one."""
        if self.kdf == RAW:
            key = _raw_key(secret)
            if key is None:
                raise ConfigError(WRONG_KEY)
            return Fernet(key)
        if self.kdf == SCRYPT and self.salt and self.n and self.r and self.p:
            return Fernet(_scrypt(secret, self.salt, self.n, self.r, self.p))
        raise ConfigError(f"the state DB records an unknown credential key derivation ({self.kdf})")


class CredentialStore:
    """SQLite table ``credentials`` in the state DB (shared with the journal, hence WAL).

    ``CredentialStore(state_db, key)`` with a ``postgresql://`` URL opens the PostgreSQL store
    (``bot.credentials_pg``) instead: same behaviour, shared by every worker."""

    def __new__(cls, db_path: Path | str, secret_key: str | SecretStr | None = None) -> "CredentialStore":
        if cls is CredentialStore and is_postgres_url(db_path):
            from bot.credentials_pg import PostgresCredentialStore

            cls = PostgresCredentialStore
        return super().__new__(cls)

    def __init__(self, db_path: Path, secret_key: str | SecretStr | None) -> None:
        self._db_path = private_sqlite(db_path)
        secret = _secret_value(secret_key) or self._key_file_secret()
        registry.add(secret, "secret_key")
        self._fernet = self._open(secret)

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
        """The stored secrets of ``siret``, or None. A row the key does not open is a ``ConfigError``."""
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
            raise ConfigError(WRONG_KEY) from None
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

    # -- the key ---------------------------------------------------------------------------

    def _open(self, secret: str) -> Fernet:
        """The store's key: checked against the recorded token, or recorded on first use.

        The common case (a store that has its key row) only reads. Making the row, and
        migrating rows written with the old SHA-256 key, happen in one write transaction,
        re-checked inside it: of processes opening a new store together, one writes it."""
        with closing(sqlite3.connect(self._db_path, timeout=30, isolation_level=None)) as db:
            ensure_wal(db)
            db.execute(_SCHEMA)
            db.execute(_KEY_SCHEMA)
            recorded = _read_key_row(db)
            if recorded is not None:
                return _checked(secret, *recorded)
            db.execute("BEGIN IMMEDIATE")
            try:
                recorded = _read_key_row(db)
                if recorded is not None:
                    fernet = _checked(secret, *recorded)
                else:
                    fernet = self._make_key(db, secret)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return fernet

    def _make_key(self, db: sqlite3.Connection, secret: str) -> Fernet:
        """Record a new key for the store, re-encrypting the rows of a store made before keys
        were recorded (a bare SHA-256 of the secret). Runs inside the caller's transaction."""
        params = KeyParams.for_secret(secret)
        fernet = params.fernet(secret)
        rows = db.execute("SELECT siret, password_enc, answer_enc FROM credentials").fetchall()
        if rows:
            legacy = Fernet(_sha256_key(secret))
            try:
                plain = [(siret, legacy.decrypt(pw), legacy.decrypt(ans)) for siret, pw, ans in rows]
            except InvalidToken:
                raise ConfigError(WRONG_KEY) from None
            db.executemany(
                "UPDATE credentials SET password_enc = ?, answer_enc = ? WHERE siret = ?",
                [(fernet.encrypt(pw), fernet.encrypt(ans), siret) for siret, pw, ans in plain],
            )
            logger.info(f"credentials: {len(rows)} stored account(s) re-encrypted with a {params.kdf} key")
        db.execute(
            "INSERT INTO credential_key (kdf, salt, n, r, p, check_enc, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (params.kdf, params.salt, params.n, params.r, params.p, fernet.encrypt(_CHECK),
             datetime.now(timezone.utc).isoformat(timespec="seconds")),
        )
        return fernet

    def _key_file_secret(self) -> str:
        """The content of ``secret.key`` beside the DB, created (0600) on first use.

        Written to a private temporary file, then hard-linked into place: a concurrent
        process either creates it or reads the complete file, never a half-written one.
        """
        path = self._db_path.parent / KEY_FILE_NAME
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-key-")  # mode 0600
            try:
                with os.fdopen(fd, "w", encoding="ascii") as out:
                    out.write(new_key() + "\n")
                os.link(tmp, path)
                logger.warning(f"CHORUS_SECRET_KEY is not set: created the key file {path} (keep it with the state DB)")
            except FileExistsError:
                pass  # another process was first: use its key
            finally:
                os.unlink(tmp)
        secret = path.read_text(encoding="ascii").strip()
        if not secret:
            raise ConfigError(f"{path} is empty: restore it or set CHORUS_SECRET_KEY")
        return secret


def new_key() -> str:
    """A fresh random key for CHORUS_SECRET_KEY (32 random bytes, urlsafe base64)."""
    return Fernet.generate_key().decode("ascii")


def _read_key_row(db: sqlite3.Connection) -> tuple[KeyParams, bytes] | None:
    row = db.execute("SELECT kdf, salt, n, r, p, check_enc FROM credential_key").fetchone()
    return None if row is None else (KeyParams(*row[:5]), row[5])


def _checked(secret: str, params: KeyParams, check_enc: bytes) -> Fernet:
    fernet = params.fernet(secret)
    try:
        fernet.decrypt(check_enc)
    except InvalidToken:
        raise ConfigError(WRONG_KEY) from None
    return fernet


def _raw_key(secret: str) -> bytes | None:
    """``secret`` as a Fernet key when it is one as ``new_key`` writes it (44 characters of
    urlsafe base64 for 32 bytes), else None: anything else is treated as a passphrase."""
    if len(secret) != 44:
        return None
    try:
        raw = base64.urlsafe_b64decode(secret.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if len(raw) != 32 or base64.urlsafe_b64encode(raw).decode("ascii") != secret:
        return None
    return secret.encode("ascii")


@lru_cache(maxsize=8)
def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    """scrypt is slow on purpose: one derivation per store and process is enough."""
    key = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32)
    return base64.urlsafe_b64encode(key)


def _sha256_key(secret: str) -> bytes:
    """The key of stores made before keys were recorded, only to migrate them."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode("utf-8")).digest())


def _secret_value(secret_key: str | SecretStr | None) -> str | None:
    """Accept a plain string or pydantic's ``SecretStr`` (``settings.secret_key``)."""
    if isinstance(secret_key, SecretStr):
        secret_key = secret_key.get_secret_value()
    return secret_key or None


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
