"""The mail side fails under a batch of 10 suppliers (4 in flight): mails later than the
bot's wait with links already expired, the IMAP server restarting while mails are awaited,
a wrong IMAP password.

Real Dovecot, stopped and started again (same ports, certificate and mailboxes) as a
mail server restart does; real `chorus-bot batch` runs. Every supplier ends activated,
or pending activation with its account waiting, or nothing starts at all; report,
journal, `chorus-bot status` and the sandbox agree; no secret reaches a file.
"""
from __future__ import annotations

import secrets
import threading
from datetime import datetime, timedelta, timezone

import pytest

from faulttools import (
    assert_agree, assert_no_secret, explain, fresh_batch, journal_has, run_batch, wait_until, when,
)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_mail_later_than_the_wait_with_a_link_that_expired_before_it_came(bot, portal, sandbox, tmp_path):
    """Mails take 8 s, the bot waits 4 s and tokens live 5 s: the first run leaves every
    account pending (exit 3); each mail then arrives with an expired link. The next run
    opens it, asks the portal for a new mail (now 1 s, its link valid 20 s) and activates
    every account."""
    batch = fresh_batch(tmp_path, "latemail")
    bot.env["CHORUS_ACTIVATION_TIMEOUT_S"] = "4"
    portal.knobs(mail_delay_ms=8000, token_ttl_s=5)

    first = run_batch(bot, batch)

    assert first.returncode == 3, explain(first, batch)
    report = assert_agree(bot, portal, batch, "pending_activation")
    for row in report.values():
        assert row["message"] == "no activation mail within 4 s; the account waits for activation", row
    delivered = wait_until(lambda: all(m["delivered_at"] for m in portal.state()["mails"]), timeout=60)
    assert delivered, "the portal's late mails never arrived"
    # The next run's links live 20 s (time enough to use them on a busy machine): wait until
    # every link of the first run is older than that, as it would be by the next scheduled run.
    newest = max(datetime.fromisoformat(m["sent_at"]) for m in portal.state()["mails"])
    threading.Event().wait(max(0.0, (newest + timedelta(seconds=21) - datetime.now(timezone.utc)).total_seconds()))

    bot.env["CHORUS_ACTIVATION_TIMEOUT_S"] = "60"
    portal.knobs(mail_delay_ms=1000, token_ttl_s=20)
    second = run_batch(bot, batch)

    assert second.returncode == 0, explain(second, batch)
    report = assert_agree(bot, portal, batch)
    assert {row["attempts"] for row in report.values()} == {2}, "each supplier resumed once, from its checkpoint"
    mails = portal.state()["mails"]
    for email in batch.emails:
        assert [m["kind"] for m in mails if m["to"].lower() == email] == ["activation", "activation"], email
    assert_no_secret(bot, sandbox, batch)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_the_imap_server_restarts_while_mails_are_awaited(bot, portal, sandbox, tmp_path):
    """Dovecot is stopped for 3 s once a supplier waits for its mail (mails take 8 s; one
    due while it is down is deferred by the portal's mailer and delivered once it is back,
    as a real MTA does), then started on the same ports (and mails come at once from then
    on): the bot's IMAP watcher reconnects and every waiting supplier gets its mail, with
    no attempt lost."""
    batch = fresh_batch(tmp_path, "imaprestart")
    bot.env["CHORUS_TRACE"] = "on"
    portal.knobs(mail_delay_ms=8000)
    restarted = threading.Event()

    def restart() -> None:
        sandbox.mail.stop(keep=True)
        threading.Event().wait(3)  # the mail server's downtime
        sandbox.mail.start()
        restarted.set()
        portal.knobs(mail_delay_ms=0)

    injector = when(journal_has(bot, checkpoint="account_created"), restart)
    try:
        done = run_batch(bot, batch)
        injector.join(30)
    finally:
        if not sandbox.mail.alive():
            sandbox.mail.start()  # the sandbox is shared by the whole session

    assert restarted.is_set(), "Dovecot was not restarted during the run"
    assert done.returncode == 0, explain(done, batch)
    report = assert_agree(bot, portal, batch)
    assert {row["attempts"] for row in report.values()} == {1}, "the wait for the mail rode out the restart"
    log = (tmp_path / "artifacts" / "logs" / "chorus-bot.log").read_text()
    assert "IMAP connection lost" in log and "IMAP connection back" in log
    assert_no_secret(bot, sandbox, batch)


@pytest.mark.timeout(120)
def test_a_wrong_imap_password_exits_2_before_any_registration(bot, portal, sandbox, tmp_path):
    batch = fresh_batch(tmp_path, "imappw")
    wrong = "Wr0ng-" + secrets.token_urlsafe(12)
    bot.env["CHORUS_IMAP_PASSWORD"] = wrong
    seed = portal.state()

    done = run_batch(bot, batch, timeout=60)

    assert done.returncode == 2, explain(done, batch)
    port = sandbox.mail.imaps_port
    assert done.stderr.strip() == (
        f"error: IMAP server 127.0.0.1:{port} refused the login of ap@ssc.example:"
        " check CHORUS_IMAP_USER and CHORUS_IMAP_PASSWORD"
    ), explain(done, batch)
    state = portal.state()
    assert state["hits"] == [], "the portal was not visited"
    assert (state["accounts"], state["structures"], state["mails"]) == (seed["accounts"], seed["structures"], [])
    assert bot.journal() == [] and not batch.report_path.exists()
    assert_no_secret(bot, sandbox, batch)


def test_register_with_a_wrong_imap_password_exits_2_before_the_portal(bot, portal):
    bot.env["CHORUS_IMAP_PASSWORD"] = "Wr0ng-" + secrets.token_urlsafe(12)
    done = bot.run(
        "register", "--siret", "80743987200019", "--email", "ap+imappw-register@ssc.example",
        "--first-name", "Élodie", "--last-name", "Lefèvre", "--phone", "04 72 00 00 00", timeout=60,
    )
    assert done.returncode == 2, explain(done)
    assert done.stderr.count("\n") == 1 and "CHORUS_IMAP_PASSWORD" in done.stderr, explain(done)
    assert portal.state()["hits"] == []
