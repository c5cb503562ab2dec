"""The activation mail over IMAP: phishing, duplicates, an expired link, a mail that never comes."""
from __future__ import annotations

import time

from bot.journal import Checkpoint
from bot.mail import ActivationMailbox
from bot.models import Status
from register_support import SIRET, ExpireFirstLink, account, mails_to, settings_from, supplier


def test_phishing_mail_before_the_real_one_is_ignored(runner, portal, mailbox_address):
    portal.knobs(phishing=True)
    result = runner.register(supplier(mailbox_address))

    assert result.status is Status.activated, result.message
    kinds = [m["kind"] for m in mails_to(portal, mailbox_address)]
    assert kinds.index("phishing") < kinds.index("activation")
    assert account(portal, mailbox_address)["status"] == "active"


def test_duplicate_mails(runner, portal, mailbox_address):
    portal.knobs(mail_duplicate=True)
    result = runner.register(supplier(mailbox_address))

    assert result.status is Status.activated, result.message
    assert len(mails_to(portal, mailbox_address, "activation")) >= 2
    assert account(portal, mailbox_address)["status"] == "active"


def test_expired_link_recovered_by_a_new_mail(runner, portal, mailbox_address):
    settings = settings_from(runner.env)
    with ActivationMailbox(settings, settings.portal_url) as real:
        mailbox = ExpireFirstLink(real, portal)
        result = runner.register(supplier(mailbox_address), mailbox=mailbox)

    assert result.status is Status.activated, result.message
    assert mailbox.calls == 2
    activation_mails = mails_to(portal, mailbox_address, "activation")
    assert len(activation_mails) == 2
    assert activation_mails[0]["token_id"] != activation_mails[1]["token_id"]
    assert account(portal, mailbox_address)["status"] == "active"


def test_mail_that_never_comes_ends_pending_in_bounded_time(runner, portal, mailbox_address):
    portal.knobs(mail_suppress=True)
    started = time.monotonic()
    result = runner.register(supplier(mailbox_address), activation_timeout_s=3)
    elapsed = time.monotonic() - started

    assert result.status is Status.pending_activation
    assert "no activation mail within 3 s" in result.message
    assert elapsed < 60
    acc = account(portal, mailbox_address)
    assert acc["status"] == "pending"
    entry = runner.journal.get(SIRET)
    assert entry.checkpoint is Checkpoint.account_created and entry.mail_since is not None
    assert runner.store.get(SIRET) is None  # no password chosen for an account never activated


def test_late_mail_resumed_by_the_next_run(runner, portal, mailbox_address):
    """Pending first (the mail is late); the next run only waits for it: no second account."""
    portal.knobs(mail_delay_ms=4000)
    first = runner.register(supplier(mailbox_address), activation_timeout_s=1)
    assert first.status is Status.pending_activation

    second = runner.register(supplier(mailbox_address), activation_timeout_s=60)
    assert second.status is Status.activated, second.message
    assert [a["email"] for a in portal.state()["accounts"] if a["siret"] == SIRET] == [mailbox_address]
    assert len(mails_to(portal, mailbox_address, "activation")) == 1
    assert runner.journal.get(SIRET).attempts == 2
