"""The bot on the live portal's account-first journey (shared/spec/portal.md, "The live portal's
journey today"): the user account with a person's captcha answer, activation, log-in on the
identity provider with the mailed one-time code, then the structure.

Each test checks what a user would: the sandbox's `/_sandbox/state` (accounts, structures,
join requests, mails, page hits), the result's status and message, the credentials stored,
the files a run leaves. `chorus-bot` runs as a real process where the command line is the
point (the user's view: exit code, one line, logs); elsewhere the flow runs in-process
(`Runner`, pytest-playwright's browser): no browser start per run.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser

from bot.credentials import CredentialStore
from bot.journal import Checkpoint, Journal
from bot.mail import ActivationMailbox
from bot.models import Status
from bot.pages.home import HomePage
from bot.pages.login import LoginPage, VerificationPage, WorkspacePage
from bot.pages.new_structure import WelcomeDialog
from register_support import (CHORUS_BOT, EXISTING, NON_DIFFUSIBLE, SEED_MANAGER, SIRET, ExpireFirstLink, Runner,
                              account, settings_from, supplier)

_SCAN = Path(__file__).parents[1] / "trace" / "secret_scan.py"
_spec = importlib.util.spec_from_file_location("af_secret_scan", _SCAN)
assert _spec is not None and _spec.loader is not None
secret_scan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(secret_scan)

WHO = ["--first-name", "Claire", "--last-name", "Dupré", "--phone", "0472000000"]


# ---- helpers ---------------------------------------------------------------------------------------
def cli(env: dict[str, str], cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """`chorus-bot` as a user runs it, with exactly the CHORUS_* settings of `env` (none inherited
    from the developer's shell, no .env picked up from the working folder)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_") and k != "SOLVER_LOG"}
    return subprocess.run([CHORUS_BOT, *args], env={**inherited, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def captcha_command(sandbox, mode: str) -> str:
    """The test solver in `mode` (right, wrong, another-then-right), as tests/conftest.py's
    `captcha_command` builds it (a conftest is not importable from a test module)."""
    return f"{sys.executable} {Path(__file__).with_name('captcha_solver.py')} {sandbox.url} {mode}"


def store_of(env: dict[str, str]) -> CredentialStore:
    return CredentialStore(Path(env["CHORUS_STATE_DB"]), env["CHORUS_SECRET_KEY"])


def structure(state: dict, siret: str) -> dict | None:
    return next((s for s in state["structures"] if s["siret"] == siret), None)


def mail_kinds(state: dict, email: str) -> list[str]:
    return sorted(m["kind"] for m in state["mails"] if m["to"].lower() == email.lower())


def idp_login_posts(state: dict) -> int:
    """Password submissions the identity provider received."""
    return sum(1 for h in state["hits"] if h["method"] == "POST" and h["path"] == "/idp/login")


def solver_calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def areas_after_log_in(browser: Browser, af_portal, url: str, email: str, password: str) -> list[str]:
    """Log in as a person (portal "Log in", the identity provider's form, the code the sandbox
    mailed) and read the workspace's work areas; an AssertionError if it is not the workspace."""
    context = browser.new_context(locale="fr-FR")
    try:
        page = context.new_page()
        home = HomePage(page).open(url + "/").accept_cookies()
        login = home.press(home.LOG_IN, LoginPage)
        landing = login.log_in(email, password, WelcomeDialog, WorkspacePage)
        if isinstance(landing, VerificationPage):
            landing = landing.submit(af_portal.otp(email), WelcomeDialog, WorkspacePage)
        assert isinstance(landing, WorkspacePage), f"logged in, but on {landing.SCREEN}"
        return landing.open_areas()
    finally:
        context.close()


@pytest.fixture
def af_runner(browser: Browser, af_env: dict[str, str], af_portal) -> Iterator[Runner]:
    """The flow in-process against the account-first sandbox (reset first, CEA hits checked after)."""
    run = Runner(browser=browser, env=af_env)
    try:
        yield run
    finally:
        run.close()


@pytest.fixture
def solver_log(tmp_path, monkeypatch) -> Path:
    """The test solver's call log; the in-process desk passes the environment on to it."""
    log = tmp_path / "solver.log"
    monkeypatch.setenv("SOLVER_LOG", str(log))
    return log


# ---- the command line, English and French; auto-detection ------------------------------------------
@pytest.mark.parametrize("language", ["en", "fr"])
def test_cli_register_creates_account_then_structure(af_portal, af_env, browser, mailbox_address, tmp_path,
                                                     language):
    env = {**af_env, "CHORUS_LANGUAGE": language}  # CHORUS_JOURNEY unset: auto
    done = cli(env, tmp_path, "register", "--siret", "807 439 872 00019", "--email", mailbox_address, *WHO,
               "--areas", "Work invoices")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"activated: {SIRET} {mailbox_address}: "), done.stdout
    assert "the portal runs the account-first journey" in done.stderr  # auto picked it
    state = af_portal.state()
    acc = account(af_portal, mailbox_address)
    assert acc is not None
    assert (acc["status"], acc["siret"], acc["primary_manager"], acc["lang"]) == ("active", SIRET, True, language)
    assert "Work invoices" in acc["areas"]
    assert {"Sent requests", "Issued invoices", "Manager activities"} <= set(acc["areas"])
    assert structure(state, SIRET)["manager_email"] == mailbox_address
    assert mail_kinds(state, mailbox_address) == ["activation", "otp"]
    subject = next(m["subject"] for m in state["mails"] if m["kind"] == "activation")
    assert ("Activation de votre compte" if language == "fr" else "Activate your account") in subject
    assert state["join_requests"] == []

    stored = store_of(af_env).get(SIRET)
    assert stored is not None and stored.email == mailbox_address and stored.password
    assert stored.password not in done.stdout + done.stderr
    areas = areas_after_log_in(browser, af_portal, af_env["CHORUS_PORTAL_URL"], mailbox_address, stored.password)
    assert "Work invoices" in areas


def test_cli_guide_journey_on_this_portal_fails_fast_creating_nothing(af_portal, af_env, mailbox_address, tmp_path):
    env = {**af_env, "CHORUS_JOURNEY": "guide", "CHORUS_PAGE_TIMEOUT_S": "10", "CHORUS_MAX_ATTEMPTS": "1"}
    started = time.monotonic()
    done = cli(env, tmp_path, "register", "--siret", SIRET, "--email", mailbox_address, *WHO, timeout=120)
    took = time.monotonic() - started

    assert done.returncode == 3, done.stdout + done.stderr  # a technical failure, for a person to look at
    assert done.stdout.startswith(f"failed: {SIRET} "), done.stdout
    # Clear: what the portal runs instead, and the setting that fixes it.
    assert "account-first journey" in done.stdout and "CHORUS_JOURNEY=auto" in done.stdout, done.stdout
    assert took < 60, f"took {took:.0f} s"
    state = af_portal.state()
    assert account(af_portal, mailbox_address) is None
    assert structure(state, SIRET) is None and state["mails"] == []
    assert store_of(af_env).get(SIRET) is None


# ---- the captcha ------------------------------------------------------------------------------------
def test_captcha_without_a_desk_is_captcha_required(af_runner, af_portal, mailbox_address):
    result = af_runner.register(supplier(mailbox_address), captcha="none")

    assert result.status is Status.captcha_required
    assert "CHORUS_CAPTCHA" in result.message
    assert account(af_portal, mailbox_address) is None
    assert af_portal.state()["mails"] == []


def test_three_wrong_captcha_answers_are_captcha_required(af_runner, af_portal, af_sandbox, mailbox_address,
                                                          solver_log):
    result = af_runner.register(supplier(mailbox_address), captcha_command=captcha_command(af_sandbox, "wrong"))

    assert result.status is Status.captcha_required, result.message
    calls = solver_calls(solver_log)
    assert len(calls) == 3
    assert [c["attempt"] for c in calls] == [1, 2, 3] and all(c["bytes"] > 0 for c in calls)
    assert {c["email"] for c in calls} == {mailbox_address}
    assert account(af_portal, mailbox_address) is None


def test_another_captcha_image_then_the_right_answer(af_runner, af_portal, af_sandbox, mailbox_address, solver_log):
    result = af_runner.register(supplier(mailbox_address), trace="on",  # keeps the attempt's folder
                                captcha_command=captcha_command(af_sandbox, "another-then-right"))

    assert result.status is Status.activated, result.message
    calls = solver_calls(solver_log)
    assert len(calls) >= 2
    first = Path(calls[0]["image"])
    assert first.is_file() and first.stat().st_size == calls[0]["bytes"] > 0
    assert account(af_portal, mailbox_address)["status"] == "active"


# ---- the activation mail ----------------------------------------------------------------------------
def test_an_expired_activation_link_is_recovered_by_one_new_mail(af_runner, af_portal, af_sandbox, mailbox_address):
    settings = settings_from(af_runner.env)
    with ActivationMailbox(settings, settings.portal_url) as real:
        mailbox = ExpireFirstLink(real, af_portal)
        result = af_runner.register(supplier(mailbox_address), mailbox=mailbox,
                                    captcha_command=captcha_command(af_sandbox, "right"))

    assert result.status is Status.activated, result.message
    assert mailbox.calls == 2
    state = af_portal.state()
    links = [m for m in state["mails"] if m["to"] == mailbox_address and m["kind"] == "activation"]
    assert len(links) == 2 and links[0]["token_id"] != links[1]["token_id"]
    assert account(af_portal, mailbox_address)["status"] == "active"
    assert structure(state, SIRET) is not None


# ---- the structure ----------------------------------------------------------------------------------
def test_existing_structure_ends_exists_without_joining(af_runner, af_portal, mailbox_address):
    af_portal.add_structure(EXISTING, SEED_MANAGER)
    result = af_runner.register(supplier(mailbox_address, EXISTING))

    assert result.status is Status.exists, result.message
    assert "already exists" in result.message and "CHORUS_JOIN_EXISTING" in result.message
    state = af_portal.state()
    assert state["join_requests"] == []
    assert structure(state, EXISTING)["manager_email"] == SEED_MANAGER
    acc = account(af_portal, mailbox_address)  # the user account exists, with no structure
    assert acc is not None and acc["status"] == "active" and acc["siret"] is None


def test_existing_structure_sends_the_join_request_when_told(af_runner, af_portal, mailbox_address):
    af_portal.add_structure(EXISTING, SEED_MANAGER)
    result = af_runner.register(supplier(mailbox_address, EXISTING), join_existing=True)

    assert result.status is Status.exists, result.message
    assert "join request sent" in result.message
    state = af_portal.state()
    assert [(j["email"], j["siret"]) for j in state["join_requests"]] == [(mailbox_address, EXISTING)]
    assert structure(state, EXISTING)["manager_email"] == SEED_MANAGER


def test_non_diffusible_siret_with_live_like_latency(af_runner, af_portal, mailbox_address):
    """The one test with the live portal's pace: 150-400 ms a page, mails 1-3 s late."""
    af_portal.knobs(latency_ms=[150, 400], mail_delay_ms=[1000, 3000], autofill_delay_ms=1500)
    result = af_runner.register(supplier(mailbox_address, NON_DIFFUSIBLE, company_name="Conseil Discret Laurent"))

    assert result.status is Status.activated, result.message
    acc = account(af_portal, mailbox_address)
    assert (acc["status"], acc["siret"], acc["non_diffusible"]) == ("active", NON_DIFFUSIBLE, True)
    assert structure(af_portal.state(), NON_DIFFUSIBLE)["manager_email"] == mailbox_address


# ---- a refused password is never typed a third time ------------------------------------------------------
def test_a_refused_stored_password_is_not_tried_again(af_runner, af_portal, mailbox_address):
    who = supplier(mailbox_address)
    first = af_runner.register(who)
    assert first.status is Status.activated, first.message
    assert af_runner.journal is not None and af_runner.store is not None

    af_runner.store.put(SIRET, mailbox_address, "Wrong-Passw0rd-for-this-test!", "", "")
    af_runner.journal.start_attempt(who, "prepared")
    af_runner.journal.checkpoint(SIRET, Checkpoint.password_set)
    before = idp_login_posts(af_portal.state())

    result = af_runner.register(who, max_attempts=5)

    assert result.status is Status.failed
    assert "password" in result.message.lower(), result.message
    state = af_portal.state()
    assert 1 <= idp_login_posts(state) - before <= 2
    acc = account(af_portal, mailbox_address)
    assert acc["locked"] is False and acc["status"] == "active"
    with Journal(Path(af_runner.env["CHORUS_STATE_DB"])) as journal:
        assert journal.get(SIRET).status == Status.failed.value


# ---- no secret in what a traced run leaves ---------------------------------------------------------------
def test_traced_run_leaves_no_secret(af_portal, af_sandbox, af_env, mailbox_address, tmp_path):
    env = {**af_env, "CHORUS_TRACE": "on", "CHORUS_LOG_LEVEL": "DEBUG"}
    done = cli(env, tmp_path, "register", "--siret", SIRET, "--email", mailbox_address, *WHO)
    assert done.returncode == 0, done.stdout + done.stderr

    artifacts = Path(af_env["CHORUS_ARTIFACTS_DIR"])
    output = artifacts / "command-output"
    output.mkdir()
    (output / "stdout.txt").write_text(done.stdout)
    (output / "stderr.txt").write_text(done.stderr)
    stored = store_of(af_env).get(SIRET)
    assert stored is not None and stored.password
    code = af_portal.otp(mailbox_address)
    assert len(code) == 6
    traces = list(artifacts.rglob("trace.zip"))
    assert traces, "TRACE=on keeps the attempt's trace"
    assert list(artifacts.rglob("*.log")), "the log file is written under the artifacts"

    links = secret_scan.activation_links(af_sandbox, {mailbox_address})
    assert len(links) == 1
    tokens = [parse_qs(urlsplit(link).query)["token"][0] for link in links]

    found = secret_scan.scan(artifacts, stored.password, code, *links, *tokens, af_env["CHORUS_SECRET_KEY"],
                             af_env["CHORUS_IMAP_PASSWORD"])
    assert found == []
    # The captcha answer (5 characters: below what the scanner looks for) is never logged.
    answer = af_portal.captcha()
    logs = done.stdout + done.stderr + "".join(p.read_text() for p in artifacts.rglob("*.log"))
    assert answer not in logs


def test_the_captcha_answer_stays_out_of_a_kept_trace(af_runner, af_portal, af_sandbox):
    """Stops right after the captcha (the login email is in use): a failed attempt, its trace kept."""
    result = af_runner.register(supplier(SEED_MANAGER), trace="on",
                                captcha_command=captcha_command(af_sandbox, "right"))
    assert result.status is Status.email_in_use, result.message
    assert result.trace and Path(result.trace).is_file()
    answer = af_portal.captcha()

    where = [name for name, data in secret_scan.artifact_blobs(Path(result.trace).parent)
             if answer.encode() in data]
    assert where == []
