"""The portal misbehaves under a batch of 10 suppliers (4 in flight): HTTP 500s, slow pages,
a slow INSEE autofill, an expired session, a maintenance window, no portal at all.

Each fault is set on the real sandbox through its knobs (docs/RELIABILITY.md has the
manual recipe of each) and the real `chorus-bot batch` runs through it. Whatever the
fault, every supplier ends activated (or, when the run cannot start, is left as it was),
the sandbox holds one account per supplier, and the report, the journal, `chorus-bot
status` and the sandbox agree; traced runs leave no secret in any file.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from faulttools import (
    assert_agree, assert_no_secret, batch_of, explain, fresh_batch, journal_has, run_batch, wait_until, when,
)

STEPS = ["/account/new", "/account/structure", "/account/work-areas", "/account/activate"]
# With 3 requests a step at 30 % errors, P(one supplier fails 15 attempts) = 0.657^15 = 0.2 %.
ATTEMPTS = 15


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.parametrize("step", STEPS)
def test_http_500_on_30_percent_of_a_steps_requests(bot, portal, sandbox, tmp_path, step):
    """Each request under the step's path answers 500 "An unexpected error occurred." with
    probability 0.3. An attempt meets the error page and the supplier is retried from its
    journal checkpoint, never creating a second account. The bot restarts the journey at
    the home page after any fault, so an attempt through a step of three requests only
    succeeds 34 % of the time: the default 3 attempts would leave about one supplier in
    four failed; this run allows ATTEMPTS, as an operator facing such a portal would."""
    batch = fresh_batch(tmp_path, "e500")
    bot.env.update(CHORUS_MAX_ATTEMPTS=str(ATTEMPTS), CHORUS_RETRY_BACKOFF_S="0")
    if step == "/account/activate":
        bot.env["CHORUS_TRACE"] = "on"  # every attempt's trace kept: the secrets were on those pages
    portal.knobs(error_rate={step: 0.3})

    done = run_batch(bot, batch)

    assert done.returncode == 0, explain(done, batch)
    report = assert_agree(bot, portal, batch)
    failed = [h for h in portal.state()["hits"] if h["path"].startswith(step) and h["status"] == 500]
    assert failed, f"no request under {step} answered 500: the fault was not exercised"
    assert sum(row["attempts"] for row in report.values()) >= len(report)
    assert_no_secret(bot, sandbox, batch)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_pages_taking_2_to_5_s(bot, portal, sandbox, tmp_path):
    """Some 16 pages a supplier at 3.5 s each: a slow portal costs wall time, not CPU, so
    this batch runs its 10 suppliers at once (at 4 in flight it would take 2.5 minutes)."""
    batch = fresh_batch(tmp_path, "slow")
    portal.knobs(latency_ms=[2000, 5000])

    done = run_batch(bot, batch, "--concurrency", "10")

    assert done.returncode == 0, explain(done, batch)
    report = assert_agree(bot, portal, batch)
    assert {row["attempts"] for row in report.values()} == {1}, "a slow page is waited for, not retried"
    assert min(h["duration_ms"] for h in portal.state()["hits"]) >= 2000 * 0.7  # the knob's ±30 % jitter
    assert_no_secret(bot, sandbox, batch)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_an_insee_autofill_of_10_s(bot, portal, sandbox, tmp_path):
    batch = fresh_batch(tmp_path, "autofill")
    portal.knobs(autofill_delay_ms=10_000)

    done = run_batch(bot, batch)

    assert done.returncode == 0, explain(done, batch)
    report = assert_agree(bot, portal, batch)
    assert {row["attempts"] for row in report.values()} == {1}, "the autofill is waited for, not retried"
    for row in report.values():
        assert row["insee"]["autofilled"]["postal_code"], row
    assert_no_secret(bot, sandbox, batch)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_the_session_expires_in_the_middle_of_step_2(bot, portal, sandbox, tmp_path):
    """Once a supplier is on step 2, waiting 6 s for the autofill, the session's lifetime
    drops to 4 s: its "Validate" meets "Your session has expired." (and so may a supplier
    slower than that between two other pages meanwhile). The lifetime is restored once the
    journal shows a step-2 expiry; the retries, in a new session each, go through."""
    batch = fresh_batch(tmp_path, "session")
    bot.env["CHORUS_TRACE"] = "on"
    portal.knobs(autofill_delay_ms=6000)
    expired: dict[str, str] = {}  # login email -> the fault the journal recorded

    def expired_in_step_2() -> bool:
        for entry in bot.journal():
            if "Your session has expired." in (entry.last_error or ""):
                expired[entry.email.lower()] = entry.last_error
        return any("step 2" in error for error in expired.values())

    def at_step_2() -> bool:
        return any(h["path"] == "/account/structure" for h in portal.state()["hits"])

    def expire_sessions() -> None:
        portal.knobs(session_ttl_s=4)
        wait_until(expired_in_step_2, timeout=60)
        portal.knobs(session_ttl_s=1800)

    injector = when(at_step_2, expire_sessions)
    done = run_batch(bot, batch)
    injector.join(5)

    assert any("step 2" in error for error in expired.values()), expired
    assert done.returncode == 0, explain(done, batch)
    report = assert_agree(bot, portal, batch)
    for email in expired:
        assert report[email]["attempts"] >= 2, report[email]
    assert_no_secret(bot, sandbox, batch)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_20_s_maintenance_window_in_the_middle_of_the_batch(bot, portal, sandbox, tmp_path):
    """Maintenance starts when the first supplier is activated and ends 20 s later: the batch
    pauses (no supplier burns its attempts against the 503 page) and then finishes."""
    batch = fresh_batch(tmp_path, "maint")
    bot.env["CHORUS_TRACE"] = "on"
    closed_at: list[float] = []

    def maintenance() -> None:
        portal.knobs(maintenance=True)
        threading.Event().wait(20)  # the window's length
        portal.knobs(maintenance=False)
        closed_at.append(time.monotonic())

    injector = when(journal_has(bot, status="activated"), maintenance)
    done = run_batch(bot, batch)
    ended_at = time.monotonic()
    injector.join(25)

    assert closed_at and closed_at[0] < ended_at, "the run ended before the maintenance window closed"
    assert done.returncode == 0, explain(done, batch)
    report = assert_agree(bot, portal, batch)
    hits = portal.state()["hits"]
    unavailable = [h for h in hits if h["status"] == 503]
    assert unavailable, "no page met the maintenance"
    assert max(row["attempts"] for row in report.values()) <= 2, "the batch waited for the portal instead of retrying"
    assert "the portal is unavailable" in done.stdout and "the portal answers again" in done.stdout, done.stdout
    assert_no_secret(bot, sandbox, batch)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_unreachable_portal_stops_before_any_supplier_with_exit_3(bot, portal, sandbox, tmp_path):
    """A first run registers 3 suppliers; the next, pointed at a closed port, says the portal
    does not answer, starts nobody, leaves the journal as it was and exits 3."""
    batch = fresh_batch(tmp_path, "noportal")
    first = batch_of(tmp_path / "first", "first", batch.rows[:3])
    assert run_batch(bot, first).returncode == 0
    before = bot.journal()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # nobody listens there once closed
    bot.env["CHORUS_PORTAL_URL"] = f"http://127.0.0.1:{closed}"
    done = run_batch(bot, batch, timeout=120)

    assert done.returncode == 3, explain(done, batch)
    said = f"the portal http://127.0.0.1:{closed} is unreachable (ConnectError): nothing was started"
    assert said in " ".join(done.stdout.split()), explain(done, batch)
    assert any(said in line for line in done.stderr.splitlines()), "the log says it too, on one line"
    assert bot.journal() == before, "the journal is left as it was"
    expected = {email: ("activated" if email in first.emails else "failed") for email in batch.emails}
    report = assert_agree(bot, portal, batch, expected)
    for email in set(batch.emails) - set(first.emails):
        assert "unreachable" in report[email]["message"], report[email]
    assert_no_secret(bot, sandbox, batch)
