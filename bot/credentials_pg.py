"""The credential store in PostgreSQL (``CHORUS_STATE_DB=postgresql://…``).

Same rows, same key handling as the SQLite store (``bot.credentials``): a worker resuming a
supplier another machine started finds the password that machine chose. One difference:
there is no folder beside a database to keep a generated key in, so CHORUS_SECRET_KEY is
required, the same on every machine. The tables come from ``bot.postgres.MIGRATIONS``.
"""
from __future__ import annotations

from datetime import datetime, timezone

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from bot.credentials import (
    _CHECK, WRONG_KEY, Credentials, CredentialStore, KeyParams, _checked, _secret_value,
)
from bot.errors import ConfigError
from bot.postgres import connect, migrate
from bot.secrets import registry

KEY_LOCK = 0x63686F6B  # pg_advisory_xact_lock key while the first worker records the key ("chok")


class PostgresCredentialStore(CredentialStore):
    def __init__(self, url: str, secret_key: str | SecretStr | None) -> None:
        secret = _secret_value(secret_key)
        if not secret:
            raise ConfigError("CHORUS_SECRET_KEY is not set: a PostgreSQL CHORUS_STATE_DB needs it, the same on every"
                              " machine (make one with chorus-bot credentials --new-key)")
        self.url = url
        registry.add(secret, "secret_key")
        migrate(url)
        self._fernet = self._open(secret)

    def put(self, siret: str, email: str, password: str, question: str, answer: str) -> None:
        registry.add(password, "password")
        registry.add(answer, "answer")
        with connect(self.url) as db:
            db.execute(
                "INSERT INTO credentials (siret, email, password_enc, question, answer_enc, stored_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (siret) DO UPDATE SET email = excluded.email,"
                " password_enc = excluded.password_enc, question = excluded.question,"
                " answer_enc = excluded.answer_enc, stored_at = excluded.stored_at",
                (siret, email, self._fernet.encrypt(password.encode()), question,
                 self._fernet.encrypt(answer.encode()), datetime.now(timezone.utc).isoformat(timespec="seconds")),
            )

    def get(self, siret: str) -> Credentials | None:
        with connect(self.url) as db:
            row = db.execute(
                "SELECT siret, email, password_enc, question, answer_enc, stored_at FROM credentials WHERE siret = %s",
                (siret,),
            ).fetchone()
        if row is None:
            return None
        try:
            password = self._fernet.decrypt(bytes(row[2])).decode()
            answer = self._fernet.decrypt(bytes(row[4])).decode()
        except InvalidToken:
            raise ConfigError(WRONG_KEY) from None
        registry.add(password, "password")
        registry.add(answer, "answer")
        return Credentials(siret=row[0], email=row[1], password=password, question=row[3], answer=answer,
                           stored_at=datetime.fromisoformat(row[5]))

    def _open(self, secret: str) -> Fernet:
        """The store's key, checked against the recorded token, or recorded by the first worker."""
        with connect(self.url, autocommit=False) as db, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (KEY_LOCK,))
            row = db.execute("SELECT kdf, salt, n, r, p, check_enc FROM credential_key").fetchone()
            if row is not None:
                salt = bytes(row[1]) if row[1] is not None else None
                return _checked(secret, KeyParams(row[0], salt, row[2], row[3], row[4]), bytes(row[5]))
            params = KeyParams.for_secret(secret)
            fernet = params.fernet(secret)
            db.execute(
                "INSERT INTO credential_key (kdf, salt, n, r, p, check_enc, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (params.kdf, params.salt, params.n, params.r, params.p, fernet.encrypt(_CHECK),
                 datetime.now(timezone.utc).isoformat(timespec="seconds")),
            )
            return fernet
