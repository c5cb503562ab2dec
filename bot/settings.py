"""Every setting of the bot (shared/spec/cli.md), read from the environment, then `.env`.

Prefix ``CHORUS_``. A missing or bad setting becomes a ``ConfigError`` whose message is
one line naming the variable, which the CLI prints before exiting with code 2.
"""
from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError
from bot.postgres import is_postgres_url

ENV_PREFIX = "CHORUS_"
CEA_SIREN = "775685019"


class ImapSecurity(StrEnum):
    ssl = "ssl"
    starttls = "starttls"
    plain = "plain"


class TraceMode(StrEnum):
    retain_on_failure = "retain-on-failure"
    on = "on"
    off = "off"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class PortalLanguage(StrEnum):
    """CHORUS_LANGUAGE: the language the bot drives the portal in, chosen as a person would,
    with the header's switch (auto: English when the switch is there and works, else French)."""

    en = "en"
    fr = "fr"
    auto = "auto"


class Journey(StrEnum):
    """CHORUS_JOURNEY: the sign-up journey the portal runs. `guide`: the supplier guide's
    (account and structure together); `account-first`: the live portal's today (the user
    account, log-in with an e-mailed code, then the structure); `auto`: told apart by the
    screen "Create an account" opens."""

    auto = "auto"
    guide = "guide"
    account_first = "account-first"


class CaptchaSolver(StrEnum):
    """CHORUS_CAPTCHA: who answers a captcha; always a person, never the bot. `prompt`: the
    operator at the terminal; `command`: CHORUS_CAPTCHA_COMMAND (a site's own desk); `none`:
    the supplier ends `captcha_required`."""

    prompt = "prompt"
    command = "command"
    none = "none"


class InseeMismatchPolicy(StrEnum):
    warn = "warn"
    fail = "fail"
    overwrite = "overwrite"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # the portal
    portal_url: str | None = None
    language: PortalLanguage = PortalLanguage.en
    journey: Journey = Journey.auto
    # The identity provider's origin (account-first journey): the only other origin whose
    # log-in form the bot types a password into.
    idp_url: str | None = None

    # the captcha (account-first journey): answered by a person
    captcha: CaptchaSolver = CaptchaSolver.none
    captcha_command: str | None = None
    captcha_timeout_s: float = Field(default=300.0, gt=0)
    # the captcha desk of `batch --desk` (bot/desk.py): how long a supplier waits there for a
    # person before it ends captcha_required; what to run when suppliers start waiting
    desk_timeout_s: float = Field(default=900.0, gt=0)
    desk_notify_command: str | None = None

    # the activation mailbox
    imap_host: str | None = None
    imap_port: int | None = Field(default=None, ge=1, le=65535)
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_security: ImapSecurity = ImapSecurity.ssl
    imap_ca_file: Path | None = None
    imap_folder: str = "INBOX"
    mail_from: str = "choruspro.notification.aife@finances.gouv.fr"
    activation_timeout_s: float = Field(default=900.0, gt=0)
    imap_poll_s: float = Field(default=5.0, gt=0)

    # the browser
    browser_path: Path | None = None
    headless: bool = True
    slow_mo_ms: int = Field(default=0, ge=0)
    page_timeout_s: float = Field(default=30.0, gt=0)
    autofill_timeout_s: float = Field(default=60.0, gt=0)

    # artifacts and traces
    trace: TraceMode = TraceMode.retain_on_failure
    # Screencast frames in kept traces: DOM snapshots already show each step, a failure leaves
    # failure.png, and the frames are most of the tracing CPU (see bot/tracing.py).
    trace_screenshots: bool = False
    # DOM snapshots in traces (the page at every step in the trace viewer, and the network).
    # They are nearly all of what tracing costs when nothing fails (bench/profile.py: about
    # 0.5 s of CPU per registration); off, a kept trace still lists every action and its log.
    trace_snapshots: bool = True
    artifacts_dir: Path = Path("artifacts")
    artifacts_keep_runs: int = Field(default=30, ge=1)
    artifacts_keep_days: int = Field(default=30, ge=1)

    # the journal and credentials at rest: a SQLite file, or a postgresql:// URL (several machines)
    state_db: Path | str = Path("state/chorus-bot.sqlite3")
    secret_key: SecretStr | None = None

    # workers sharing a PostgreSQL state DB (`chorus-bot worker`)
    worker_heartbeat_s: float = Field(default=10.0, gt=0)
    worker_stalled_s: float = Field(default=30.0, gt=0)

    # batches
    concurrency: int = Field(default=2, ge=1, le=64)
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_backoff_s: float = Field(default=2.0, ge=0)
    pace_ms: int = Field(default=0, ge=0)

    # logs
    log_format: LogFormat = LogFormat.text
    log_level: str = "INFO"
    log_file: Path | None = None

    # business rules
    insee_mismatch: InseeMismatchPolicy = InseeMismatchPolicy.warn
    blocked_sirens: Annotated[list[str], NoDecode] = Field(default_factory=lambda: [CEA_SIREN])
    join_existing: bool = False

    @field_validator("state_db", mode="before")
    @classmethod
    def _state_db_kind(cls, value):
        """A ``postgresql://`` (or ``postgres://``) URL stays a string; anything else is a path."""
        if is_postgres_url(value):
            return value
        if isinstance(value, str) and "://" in value:
            raise ValueError("must be a SQLite file path or a postgresql:// URL")
        return Path(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _stalled_after_heartbeats(self):
        if self.worker_stalled_s <= 2 * self.worker_heartbeat_s:
            raise ValueError("CHORUS_WORKER_STALLED_S must be more than twice CHORUS_WORKER_HEARTBEAT_S")
        return self

    @field_validator("blocked_sirens", mode="before")
    @classmethod
    def _split_sirens(cls, value):
        if isinstance(value, str):
            value = [part for part in value.replace(";", ",").split(",")]
        sirens = ["".join(str(v).split()) for v in value]
        sirens = [s for s in sirens if s]
        for siren in sirens:
            if not (siren.isdigit() and len(siren) == 9):
                raise ValueError(f"'{siren}' is not a 9-digit SIREN")
        return sirens

    @field_validator("portal_url", "idp_url")
    @classmethod
    def _check_url(cls, value):
        if value is None:
            return value
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("captcha_command")
    @classmethod
    def _strip_command(cls, value):
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str):
        value = value.upper()
        if value not in {"TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return value

    @field_validator("imap_ca_file", "browser_path")
    @classmethod
    def _file_exists(cls, value):
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    def require(self, *names: str) -> None:
        """Raise a one-line ConfigError for the first of ``names`` that is not set."""
        for name in names:
            if getattr(self, name) in (None, ""):
                raise ConfigError(f"{env_name(name)} is not set (see .env.example)")

    @property
    def effective_imap_port(self) -> int:
        if self.imap_port:
            return self.imap_port
        return 993 if self.imap_security is ImapSecurity.ssl else 143

    def known_secrets(self) -> list[str]:
        """Secret setting values that must never reach a log, report or artifact."""
        out = []
        for secret in (self.imap_password, self.secret_key):
            if secret is not None and secret.get_secret_value():
                out.append(secret.get_secret_value())
        if self.uses_postgres:
            password = urlsplit(str(self.state_db)).password
            if password:
                out.append(password)
        return out

    @property
    def uses_postgres(self) -> bool:
        """Whether the journal, credentials and job queue live in PostgreSQL (CHORUS_STATE_DB)."""
        return isinstance(self.state_db, str)


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def fields_from_env(variables: Mapping[str, str]) -> dict[str, str]:
    """The settings' field values in ``CHORUS_*`` variables, as an environment or the
    ``CHORUS_*`` lines of ``chorus-bot sandbox`` give them (``CHORUS_PORTAL_URL`` ->
    ``portal_url``); other variables are left out."""
    return {key.removeprefix(ENV_PREFIX).lower(): value for key, value in variables.items()
            if key.startswith(ENV_PREFIX)}


def load_settings(**overrides) -> Settings:
    """Read the settings; turn a validation error into one line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err.get("loc") else "?"
        msg = err.get("msg", "invalid value").removeprefix("Value error, ")
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        if not err.get("loc"):  # a rule between settings: its message names them
            raise ConfigError(f"{msg}{more}") from None
        raise ConfigError(f"{env_name(field)}: {msg}{more}") from None
