"""Business outcomes: each ends with its report status, and the portal shows nothing was created."""
from __future__ import annotations

import pytest

from bot.models import Status
from register_support import (
    BAD_CHECKSUM,
    CEA,
    CLOSED,
    EXISTING,
    NON_DIFFUSIBLE,
    SEED_MANAGER,
    SIRET,
    UNKNOWN,
    account,
    mails_to,
    supplier,
)


def posts_to_account_pages(portal) -> int:
    return sum(1 for h in portal.state()["hits"] if h["path"].startswith("/account"))


def test_structure_exists_ends_as_exists_without_joining(runner, portal, mailbox_address):
    result = runner.register(supplier(mailbox_address, EXISTING))

    assert result.status is Status.exists
    assert "already exists" in result.message and "CHORUS_JOIN_EXISTING" in result.message
    state = portal.state()
    assert account(portal, mailbox_address) is None
    assert state["join_requests"] == []
    assert runner.journal.get(EXISTING).status == Status.exists.value


def test_structure_exists_sends_the_join_request_when_told(runner, portal, mailbox_address):
    result = runner.register(supplier(mailbox_address, EXISTING), join_existing=True)

    assert result.status is Status.exists
    assert "join request sent" in result.message
    state = portal.state()
    assert [(j["email"], j["siret"]) for j in state["join_requests"]] == [(mailbox_address, EXISTING)]
    assert account(portal, mailbox_address) is None
    assert [s["siret"] for s in state["structures"]].count(EXISTING) == 1


def test_email_in_use(runner, portal):
    result = runner.register(supplier(SEED_MANAGER, SIRET))

    assert result.status is Status.email_in_use
    assert result.message == "An account already exists for this login email."
    assert not any(a["siret"] == SIRET for a in portal.state()["accounts"])


@pytest.mark.parametrize(
    ("siret", "message"),
    [
        (UNKNOWN, "This SIRET is unknown in the INSEE database."),
        (CLOSED, "This establishment is closed in the INSEE database."),
    ],
)
def test_unknown_or_closed_siret_is_invalid_input(runner, portal, mailbox_address, siret, message):
    result = runner.register(supplier(mailbox_address, siret))

    assert result.status is Status.invalid_input
    assert result.message == message
    assert account(portal, mailbox_address) is None
    assert runner.contexts_opened == 1  # found by the portal, in one attempt (never retried)


@pytest.mark.parametrize("siret", ["1234", "807 439 872 0001X", BAD_CHECKSUM])
def test_malformed_siret_never_opens_a_browser(runner, portal, mailbox_address, siret):
    result = runner.register(supplier(mailbox_address, siret))

    assert result.status is Status.invalid_input
    assert "14 digits" in result.message or "checksum" in result.message
    assert runner.contexts_opened == 0
    assert posts_to_account_pages(portal) == 0


def test_bad_email_never_opens_a_browser(runner, portal):
    result = runner.register(supplier("not-an-email", SIRET))

    assert result.status is Status.invalid_input
    assert runner.contexts_opened == 0


def test_blocked_siren_is_refused_before_the_browser(runner, portal, mailbox_address):
    result = runner.register(supplier(mailbox_address, CEA))

    assert result.status is Status.blocked
    assert "775685019" in result.message and "CEA" in result.message
    assert runner.contexts_opened == 0
    assert posts_to_account_pages(portal) == 0
    assert runner.journal.get(CEA).status == Status.blocked.value


def test_captcha_ends_as_captcha_required(runner, portal, mailbox_address):
    portal.knobs(captcha=True)
    result = runner.register(supplier(mailbox_address))

    assert result.status is Status.captcha_required
    assert account(portal, mailbox_address) is None


def test_non_diffusible_siret_is_ticked_and_activated(runner, portal, mailbox_address):
    """INSEE masks the address: the bot ticks "INSEE not diffusible" although not told to."""
    result = runner.register(supplier(mailbox_address, NON_DIFFUSIBLE, company_name="Conseil Discret Laurent"))

    assert result.status is Status.activated, result.message
    acc = account(portal, mailbox_address)
    assert acc["non_diffusible"] is True and acc["status"] == "active"
    assert acc["postal_code"] in ("", None) and acc["city"] in ("", None)
    assert result.insee.mismatches == []


def test_non_diffusible_when_the_supplier_says_so(runner, portal, mailbox_address):
    result = runner.register(supplier(mailbox_address, SIRET, non_diffusible=True))

    assert result.status is Status.activated, result.message
    assert account(portal, mailbox_address)["non_diffusible"] is True


MASTER = {"company_name": "Boulangerie Martin", "postal_code": "69003", "city": "Lyon"}


def test_insee_mismatch_warn_keeps_insee_data(runner, portal, mailbox_address):
    result = runner.register(supplier(mailbox_address, **MASTER), insee_mismatch="warn")

    assert result.status is Status.activated, result.message
    assert [m.field for m in result.insee.mismatches] == ["company_name"]
    assert result.insee.action == "warn"
    assert account(portal, mailbox_address)["company_name"] == "Boulangerie Dupré SARL"


def test_insee_mismatch_fail_creates_nothing(runner, portal, mailbox_address):
    result = runner.register(supplier(mailbox_address, **MASTER), insee_mismatch="fail")

    assert result.status is Status.insee_mismatch
    assert "company_name" in result.message and "Boulangerie Martin" in result.message
    assert result.insee.mismatches[0].insee == "Boulangerie Dupré SARL"
    assert account(portal, mailbox_address) is None
    assert mails_to(portal, mailbox_address) == []


def test_insee_mismatch_overwrite_uses_master_data(runner, portal, mailbox_address):
    master = {**MASTER, "city": "Villeurbanne"}
    result = runner.register(supplier(mailbox_address, **master), insee_mismatch="overwrite")

    assert result.status is Status.activated, result.message
    assert {m.field for m in result.insee.mismatches} == {"company_name", "city"}
    assert result.insee.action == "overwrite"
    acc = account(portal, mailbox_address)
    assert (acc["company_name"], acc["postal_code"], acc["city"]) == ("Boulangerie Martin", "69003", "Villeurbanne")


def test_empty_required_field_stops_with_its_label(runner, portal, mailbox_address):
    result = runner.register(supplier(mailbox_address, phone=""))

    assert result.status is Status.invalid_input
    assert "Phone number" in result.message
    assert account(portal, mailbox_address) is None
