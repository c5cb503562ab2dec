"""The portal rebuilt: the bot registers on every markup in French and English, `check-site`
passes on them, and a renamed field stops both commands fast, naming the field.

Markups (the sandbox's `markup` knob, docs/SANDBOX.md): `standard`; `alt` (the same journey
and wordings built differently: other headings, <input type=submit>, aria-labelledby and
wrapping labels, checkbox switches, a modal cookie dialog, in-place steps with pushState);
`labels` (step 1's SIRET field renamed). One sandbox for all; knobs reset after each test.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from bot import labels as L
from bot.models import Status
from register_support import SIRET, UNKNOWN, account, chorus_bot, mails_to, supplier

PAGE_TIMEOUT_S = 20  # short, so that "under two page timeouts" leaves no room for a wait per missing element
RENAMED = "field 'Company registration number (SIRET)'"


@pytest.fixture
def knobs(portal) -> Iterator:
    """Set sandbox knobs for one test; back to the profile's after it."""
    yield portal.knobs
    portal.reset()


@pytest.mark.parametrize(
    ("markup", "language"),
    [("standard", "fr"), ("alt", "en"), ("alt", "fr")],  # standard in English: test_register_journey
)
def test_registers_on_every_markup_in_either_language(runner, portal, knobs, mailbox_address, markup, language):
    knobs(markup=markup)
    result = runner.register(supplier(mailbox_address, areas=["Work invoices"]), language=language)

    assert result.status is Status.activated, result.message
    assert result.areas == ["Sent requests", "Issued invoices", "Manager activities", "Work invoices"]
    acc = account(portal, mailbox_address)
    assert acc and acc["status"] == "active" and acc["siret"] == SIRET and acc["lang"] == language
    assert "Work invoices" in acc["areas"]
    mail = mails_to(portal, mailbox_address, "activation")
    assert [m["subject"] for m in mail] == [L.MAIL_SUBJECT_ACTIVATION.of(language)[0]]
    # The secret question was picked as the portal worded it, and is the one the portal stored.
    stored = runner.store.get(SIRET)
    question = next(q for q in L.SECRET_QUESTION_OPTIONS if q.matches(stored.question))
    assert question.language_of(stored.question) == language and question.name == acc["secret_question"]


def test_an_answer_given_in_place_is_read_as_the_portal_gave_it(runner, portal, knobs, mailbox_address):
    """alt answers step 1 in place (fetch, no page load): the new alert is the answer, in French."""
    knobs(markup="alt")
    result = runner.register(supplier(mailbox_address, UNKNOWN), language="fr")

    assert result.status is Status.invalid_input
    assert result.message == "This SIRET is unknown in the INSEE database."  # by its catalogue name
    assert result.screen == "step 1 (account)"


def test_auto_goes_on_in_french_without_a_language_switch(runner, portal, knobs, mailbox_address):
    knobs(language_switch=False)
    result = runner.register(supplier(mailbox_address), language="auto")

    assert result.status is Status.activated, result.message
    assert account(portal, mailbox_address)["lang"] == "fr"
    assert mails_to(portal, mailbox_address, "activation")[0]["subject"] == "Chorus Pro - Activation de votre compte"


def test_english_without_a_language_switch_fails_naming_it(runner, portal, knobs, mailbox_address):
    knobs(language_switch=False)
    result = runner.register(supplier(mailbox_address), language="en")

    assert result.status is Status.failed
    assert "language switch" in result.message and "'EN' not found" in result.message
    assert result.attempts == 2  # a changed screen is retried once, never more
    assert account(portal, mailbox_address) is None


@pytest.mark.parametrize("markup", ["standard", "alt"])
def test_check_site_finds_everything(portal, knobs, bot_env, mailbox_address, markup):
    knobs(markup=markup)
    done = chorus_bot(bot_env, "check-site", "--siret", SIRET, "--email", mailbox_address)

    assert done.returncode == 0, done.stdout + done.stderr
    screens = [line for line in done.stdout.splitlines() if line and not line.startswith(" ")]
    for screen in ("home", "cookie banner", "language switch", "log in", "step 1 (account)",
                   "step 2 (structure)", "step 3 (work areas)"):
        assert screen in screens, done.stdout
    assert "MISSING" not in done.stdout
    assert "  found    field 'Company registration number (SIRET)'" in done.stdout
    assert done.stdout.count("screenshot: ") == 7
    assert "nothing was created" in done.stdout
    state = portal.state()
    assert account(portal, mailbox_address) is None and state["mails"] == []
    assert not any(h["method"] == "POST" and h["path"].startswith("/account/work-areas") for h in state["hits"])


def test_a_renamed_field_stops_check_site_and_register_fast(portal, knobs, bot_env, mailbox_address):
    knobs(markup="labels")
    # A back-off that would show: a changed screen is retried once, at once.
    env = {**bot_env, "CHORUS_PAGE_TIMEOUT_S": str(PAGE_TIMEOUT_S), "CHORUS_RETRY_BACKOFF_S": "10"}

    started = time.monotonic()
    check = chorus_bot(env, "check-site")
    check_s = time.monotonic() - started
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"  MISSING  {RENAMED}" in check.stdout
    assert f"MISSING 1 required element(s): step 1 (account): {RENAMED}\n" in check.stdout
    assert check_s < 2 * PAGE_TIMEOUT_S, f"check-site took {check_s:.1f} s"

    who = ["--email", mailbox_address, "--first-name", "A", "--last-name", "B", "--phone", "0102030405"]
    started = time.monotonic()
    register = chorus_bot(env, "register", "--siret", SIRET, *who)
    register_s = time.monotonic() - started
    assert register.returncode == 3, register.stdout + register.stderr
    line = register.stdout.strip()
    assert line.startswith(f"failed: {SIRET} {mailbox_address}: the screen 'step 1 (account)' has changed: {RENAMED}")
    assert "the page shows /account/new" in line and "'Establishment identifier (SIRET)'" in line
    assert register_s < 2 * PAGE_TIMEOUT_S, f"register took {register_s:.1f} s"
    assert account(portal, mailbox_address) is None
    artifacts = {p.name for p in Path(bot_env["CHORUS_ARTIFACTS_DIR"]).rglob("failure.*")}
    assert {"failure.png", "failure.html", "failure.json"} <= artifacts


def test_check_site_exit_codes(bot_env):
    down = chorus_bot({**bot_env, "CHORUS_PORTAL_URL": "http://127.0.0.1:9"}, "check-site", timeout=120)
    assert down.returncode == 3, down.stdout + down.stderr
    assert "the portal is unreachable or failing" in down.stdout
    unset = chorus_bot({**bot_env, "CHORUS_PORTAL_URL": ""}, "check-site", timeout=60)
    assert unset.returncode == 2 and "CHORUS_PORTAL_URL" in unset.stderr
    half = chorus_bot(bot_env, "check-site", "--siret", SIRET, timeout=60)
    assert half.returncode == 2 and "--siret and --email go together" in half.stderr
