"""Technical faults, retries and resumption from the journal's checkpoints; the CEA guard."""
from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from bot.errors import CeaTrapError
from bot.journal import Checkpoint
from bot.models import Status
from bot.pages.base import CeaGuard, guard_cea
from bot.pages.home import HomePage
from register_support import SIRET, account, mails_to, supplier


def test_a_500_on_step_3_is_retried_without_a_second_account(runner, portal, mailbox_address):
    portal.knobs(fail_next={"/account/work-areas": 1})
    result = runner.register(supplier(mailbox_address))

    assert result.status is Status.activated, result.message
    assert result.attempts == 2
    assert [a["email"] for a in portal.state()["accounts"] if a["siret"] == SIRET] == [mailbox_address]
    assert len(mails_to(portal, mailbox_address, "activation")) == 1


def test_maintenance_fails_after_the_last_attempt_with_evidence(runner, portal, mailbox_address):
    portal.knobs(maintenance=True)
    result = runner.register(supplier(mailbox_address), max_attempts=2)

    assert result.status is Status.failed
    assert "Chorus Pro is currently under maintenance" in result.message
    assert result.attempts == 2
    assert result.step == "home"
    assert any(path.endswith("failure.png") for path in result.artifacts)
    entry = runner.journal.get(SIRET)
    assert entry.status == Status.failed.value and entry.attempts == 2


def test_slow_portal_and_slow_autofill(runner, portal, mailbox_address):
    """Live-like latency and a slow INSEE lookup: the bot waits on the page, not on a clock."""
    portal.knobs(latency_ms=[150, 400], autofill_delay_ms=2500, mail_delay_ms=[1000, 2000])
    result = runner.register(supplier(mailbox_address, company_name="Boulangerie Dupré SARL"))

    assert result.status is Status.activated, result.message
    assert result.insee.autofilled["postal_code"] == "69003" and result.insee.mismatches == []


def test_expired_session_is_a_technical_fault(runner, portal, mailbox_address):
    """The session outlives its lifetime while INSEE answers: "Your session has expired." is retried."""
    portal.knobs(session_ttl_s=1, autofill_delay_ms=2000)
    result = runner.register(supplier(mailbox_address), max_attempts=1)

    assert result.status is Status.failed
    assert "Your session has expired." in result.message
    assert account(portal, mailbox_address) is None


def test_resume_at_activating_logs_in_to_learn_it_took(runner, portal, mailbox_address):
    """Killed after the activation Validate: the stored credentials log in, nothing is redone."""
    first = runner.register(supplier(mailbox_address))
    assert first.status is Status.activated
    runner.journal.checkpoint(SIRET, Checkpoint.activating)

    again = runner.register(supplier(mailbox_address))
    assert again.status is Status.activated, again.message
    assert len(mails_to(portal, mailbox_address, "activation")) == 1
    assert runner.journal.get(SIRET).checkpoint is Checkpoint.done


def test_resume_at_activating_when_it_did_not_take(runner, portal, mailbox_address):
    """Killed before the activation Validate: the log-in is refused, the bot activates from the mail."""
    portal.knobs(mail_delay_ms=3000)
    first = runner.register(supplier(mailbox_address), activation_timeout_s=1)
    assert first.status is Status.pending_activation
    runner.store.put(SIRET, mailbox_address, "Never-Used-Pass-1!", "In which city were you born?", "nowhere-town")
    runner.journal.checkpoint(SIRET, Checkpoint.activating)

    again = runner.register(supplier(mailbox_address), activation_timeout_s=60)
    assert again.status is Status.activated, again.message
    assert account(portal, mailbox_address)["status"] == "active"
    assert runner.store.get(SIRET).password != "Never-Used-Pass-1!"


@pytest.mark.cea_allowed
def test_guard_cea_raises_on_a_cea_page(page: Page, sandbox, portal):
    page.goto(sandbox.url + "/cea/login")
    with pytest.raises(CeaTrapError):
        guard_cea(page)
    with pytest.raises(CeaTrapError):
        HomePage(page).assert_arrived()


def test_the_cea_route_never_reaches_the_portal(page: Page, sandbox, portal):
    """A click on the CEA banner is aborted in the browser: the portal counts no hit."""
    guard = CeaGuard().install(page.context)
    guard.watch(page)
    HomePage(page).open(sandbox.url + "/").switch_to_english().accept_cookies()
    page.get_by_role("link", name="CEA suppliers: log in to the CEA account").click(no_wait_after=True)
    page.wait_for_event("requestfailed")
    assert isinstance(guard.error(), CeaTrapError)
    assert portal.state()["cea_hits"] == 0


def test_the_cea_guard_fails_every_cea_address_and_only_those(page: Page, sandbox, portal):
    """Typed, linked or with a query, in either casing Chromium is told of: failed in the
    browser; a path that only starts like it (/ceasar) loads as usual."""
    guard = CeaGuard().install(page.context)
    guard.watch(page)
    page.goto(sandbox.url + "/ceasar")  # not the CEA: the portal answers it (its 404)
    for path in ("/cea", "/cea/login", "/cea?next=/", "/CEA/login"):
        tab = page.context.new_page()  # a failed load goes on to Chromium's error page
        guard.watch(tab)
        with pytest.raises(PlaywrightError, match="ERR_BLOCKED_BY_CLIENT"):
            tab.goto(sandbox.url + path)
    assert guard.hits == ["/cea", "/cea/login", "/cea", "/CEA/login"]
    assert portal.state()["cea_hits"] == 0
    assert any(hit["path"] == "/ceasar" for hit in portal.state()["hits"])


def test_resume_at_creating_account_when_the_click_went_through(runner, portal, mailbox_address):
    """Killed right after the step-3 Validate: step 1 says the email has an account, so the
    bot knows its click created it and only waits for the mail."""
    portal.knobs(mail_delay_ms=3000)
    first = runner.register(supplier(mailbox_address), activation_timeout_s=1)
    assert first.status is Status.pending_activation
    runner.journal.checkpoint(SIRET, Checkpoint.creating_account)  # as if killed before step 4 showed

    again = runner.register(supplier(mailbox_address), activation_timeout_s=60)
    assert again.status is Status.activated, again.message
    assert [a["email"] for a in portal.state()["accounts"] if a["siret"] == SIRET] == [mailbox_address]
    assert len(mails_to(portal, mailbox_address, "activation")) == 1
