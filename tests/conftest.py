"""Fixtures shared by every test (keep this file small; helpers of one area go in its folder).

- ``sandbox`` (session): the real sandbox, portal + Dovecot, started once (fixtures/portal/server.py).
- ``portal``: the sandbox's test API (``/_sandbox/...``) around httpx. The sandbox is reset
  before each test, and after it the test fails unless ``cea_hits == 0`` (the bot must
  never open a CEA page); mark a test ``@pytest.mark.cea_allowed`` when it opens one on purpose.
- ``bot_env``: the ``CHORUS_*`` variables that run the bot against the sandbox, with its
  own state database and artifacts folder under the test's ``tmp_path``.
- ``mailbox_address``: a fresh ``ap+<8 hex>@ssc.example``, delivered to the shared mailbox.
- ``postgres`` (session): a throw-away PostgreSQL server (fixtures/postgres.py, Debian's
  binaries, initdb + pg_ctl); ``pg_url``: a fresh empty database on it, one per test.
- pytest-playwright launches Chromium through ``bot.browser`` (same executable and flags as the
  bot), and its ``base_url`` is the sandbox portal's (so any ``page`` test starts the sandbox).
"""
from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.browser import launch_options
from bot.settings import load_settings
from fixtures.portal.server import Sandbox
from fixtures.postgres import PostgresServer


class PortalClient:
    """The sandbox's test API, for tests that set knobs, inspect state or play the human."""

    def __init__(self, url: str) -> None:
        self.url = url
        # Idle connections are dropped after 1 s, well before uvicorn closes its own after 5 s:
        # with httpx's default expiry (also 5 s), a request sent as the server closed the pooled
        # connection failed with "Connection reset by peer".
        self._http = httpx.Client(base_url=url, timeout=10.0, limits=httpx.Limits(keepalive_expiry=1.0))

    def _get(self, path: str, **params: str) -> Any:
        answer = self._http.get(path, params=params)
        answer.raise_for_status()
        return answer.json()

    def _post(self, path: str, body: dict | None = None) -> Any:
        answer = self._http.post(path, json=body or {})
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def reset(self) -> None:
        self._post("/_sandbox/reset")

    def state(self) -> dict:
        return self._get("/_sandbox/state")

    def knobs(self, **knobs: Any) -> dict:
        """Set some knobs (e.g. ``latency_ms=200``); returns the full knob set."""
        return self._post("/_sandbox/knobs", knobs)

    def add_structure(self, siret: str, manager_email: str) -> None:
        self._post("/_sandbox/structures", {"siret": siret, "manager_email": manager_email})

    def captcha(self) -> str:
        return self._get("/_sandbox/captcha")["text"]

    def otp(self, email: str) -> str:
        return self._get("/_sandbox/otp", email=email)["code"]

    def close(self) -> None:
        self._http.close()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture
def portal(sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[PortalClient]:
    client = PortalClient(sandbox.url)
    client.reset()
    try:
        yield client
        if request.node.get_closest_marker("cea_allowed") is None:
            hits = client.state()["cea_hits"]
            assert hits == 0, f"the browser opened a CEA page {hits} time(s): the bot must never go there"
    finally:
        client.close()


@pytest.fixture
def bot_env(tmp_path, sandbox: Sandbox) -> dict[str, str]:
    return {
        **sandbox.env,
        "CHORUS_STATE_DB": str(tmp_path / "state.sqlite3"),
        "CHORUS_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "CHORUS_SECRET_KEY": Fernet.generate_key().decode(),
        "CHORUS_ACTIVATION_TIMEOUT_S": "60",
    }


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    return postgres.new_database()


@pytest.fixture(scope="session")
def af_sandbox() -> Iterator[Sandbox]:
    """A second sandbox running the live portal's account-first journey (started on first use)."""
    with Sandbox(journey="account-first") as running:
        yield running


@pytest.fixture
def af_portal(af_sandbox: Sandbox) -> Iterator[PortalClient]:
    """The account-first sandbox, reset, with the captcha and the one-time code on (as live)."""
    client = PortalClient(af_sandbox.url)
    client.reset()
    client.knobs(captcha=True, otp=True)
    try:
        yield client
        hits = client.state()["cea_hits"]
        assert hits == 0, f"the browser opened a CEA page {hits} time(s): the bot must never go there"
    finally:
        client.close()


CAPTCHA_SOLVER = Path(__file__).parent / "bot" / "captcha_solver.py"


def captcha_command(sandbox: Sandbox, mode: str = "right") -> str:
    """CHORUS_CAPTCHA_COMMAND of a test solver playing the person (tests/bot/captcha_solver.py)."""
    return f"{sys.executable} {CAPTCHA_SOLVER} {sandbox.url} {mode}"


@pytest.fixture
def af_env(tmp_path, af_sandbox: Sandbox) -> dict[str, str]:
    """The bot's settings for the account-first sandbox, captcha answered by the test solver."""
    return {
        **af_sandbox.env,
        "CHORUS_STATE_DB": str(tmp_path / "state.sqlite3"),
        "CHORUS_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "CHORUS_SECRET_KEY": Fernet.generate_key().decode(),
        "CHORUS_ACTIVATION_TIMEOUT_S": "60",
        "CHORUS_CAPTCHA": "command",
        "CHORUS_CAPTCHA_COMMAND": captcha_command(af_sandbox),
    }


@pytest.fixture
def mailbox_address() -> str:
    return f"ap+{uuid.uuid4().hex[:8]}@ssc.example"


@pytest.fixture(scope="session")
def base_url(sandbox: Sandbox) -> str:
    """pytest-playwright's base URL is the sandbox portal: ``page.goto("/account/new")`` works."""
    return sandbox.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright's options (--headed, --slowmo) with the bot's executable and flags."""
    options = launch_options(
        load_settings(_env_file=None),  # CHORUS_BROWSER_PATH from the environment; a local .env is ignored
        headless=browser_type_launch_args.get("headless", True),
        slow_mo=browser_type_launch_args.get("slow_mo", 0),
    )
    return {**browser_type_launch_args, **options}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    """A French user's browser, as the suppliers' (the portal starts in French either way)."""
    return {**browser_context_args, "locale": "fr-FR", "timezone_id": "Europe/Paris"}

