"""The whole journey, as a user sees it: one command registers and activates a supplier.

Real Chromium, the real sandbox over HTTP, the real Dovecot over IMAP with TLS.
"""
from __future__ import annotations

from playwright.sync_api import Page, expect

from bot import labels as L
from bot.journal import Checkpoint
from bot.models import Status
from bot.pages.home import HomePage
from register_support import SIRET, account, log_in, mails_to, supplier


def test_happy_path_activates_the_account(runner, portal, browser, mailbox_address):
    notification = mailbox_address.replace("ap+", "ap+notif-")
    who = supplier(
        mailbox_address,
        job_title="Gérante",
        notification_email=notification,
        areas=["Work invoices", "commitments"],
        company_name="Boulangerie Dupré",
        postal_code="69003",
        city="Lyon",
    )
    result = runner.register(who)

    assert result.status is Status.activated, result.message
    assert result.insee and result.insee.autofilled["company_name"] == "Boulangerie Dupré SARL"
    assert result.insee.mismatches == []
    assert {"Sent requests", "Issued invoices", "Work invoices", "Commitments"} <= set(result.areas)
    acc = account(portal, mailbox_address)
    assert acc and acc["status"] == "active" and acc["siret"] == SIRET
    assert acc["primary_manager"] is True
    assert acc["notification_email"] == notification
    assert (acc["first_name"], acc["last_name"], acc["job_title"]) == ("Claire", "Dupré", "Gérante")
    assert {"Work invoices", "Commitments", "Sent requests", "Issued invoices"} <= set(acc["areas"])
    assert acc["secret_question"]
    assert len(mails_to(portal, mailbox_address, "activation")) == 1
    entry = runner.journal.get(SIRET)
    assert entry.status == Status.activated.value and entry.checkpoint is Checkpoint.done
    # The stored credentials open the account.
    stored = runner.store.get(SIRET)
    assert stored is not None and stored.email == mailbox_address
    workspace = log_in(browser, runner.settings.portal_url, stored.email, stored.password)
    assert {"Work invoices", "Commitments"} <= set(workspace.open_areas())
    assert workspace.page.url.endswith("/workspace")
    # Running it again does nothing: the journal says it is done.
    again = runner.register(who)
    assert again.status is Status.activated and "already" in again.message
    assert [a["email"] for a in portal.state()["accounts"] if a["siret"] == SIRET] == [mailbox_address]
    assert len(mails_to(portal, mailbox_address, "activation")) == 1


def test_french_home_and_cookie_banner(page: Page, sandbox, portal):
    """The portal starts in French with a cookie banner; the bot switches and answers it."""
    home = HomePage(page).open(sandbox.url + "/")
    expect(page.get_by_role("link", name="Créer un compte")).to_be_visible()
    expect(page.get_by_role("button", name="Tout accepter")).to_be_visible()
    home.switch_to_english().accept_cookies()
    expect(page.get_by_role("link", name=L.HOME_CREATE_ACCOUNT.name, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=L.COOKIES_ACCEPT.name)).to_be_hidden()
    page.reload()
    expect(page.get_by_role("button", name=L.COOKIES_ACCEPT.name)).to_be_hidden()
    home.switch_to_english().accept_cookies()  # both idempotent: nothing to do the second time
    expect(page.get_by_role("link", name=L.HOME_CREATE_ACCOUNT.name, exact=True)).to_be_visible()


def test_dry_run_creates_nothing(runner, portal, mailbox_address):
    result = runner.register(supplier(mailbox_address, areas=["Received invoices"]), dry_run=True)

    assert result.step == "dry-run", result.message
    assert "nothing was created" in result.message
    assert "Received invoices" in result.areas
    state = portal.state()
    assert account(portal, mailbox_address) is None
    assert mails_to(portal, mailbox_address) == []
    assert not any(s["siret"] == SIRET for s in state["structures"])
    assert not any(h["method"] == "POST" and h["path"].startswith("/account/work-areas") for h in state["hits"])
    assert runner.journal.get(SIRET) is None
    assert runner.store.get(SIRET) is None
