"""ActivationMailbox against the sandbox's real Dovecot, over TLS (and STARTTLS).

Mails are delivered as the portal delivers them (LMTP, multipart, quoted-printable) to
fresh ``ap+<hex>@ssc.example`` addresses, all landing in the one shared mailbox
``ap@ssc.example``: every test also proves that a flow only gets its own mail.
"""
from __future__ import annotations

import secrets
import smtplib
import socket
import ssl
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from imap_tools import AND, MailBox
from imap_tools.idle import IdleManager
from loguru import logger

import bot.mail
from bot.errors import ConfigError, TechnicalFault
from bot.mail import ActivationMailbox, check_login
from bot.secrets import registry
from bot.settings import Settings

PORTAL = "http://127.0.0.1:8765"
PHISHING = "http://chorus-pro.example.net"
MAIL_FROM = "choruspro.notification.aife@finances.gouv.fr"
SHARED = "ap@ssc.example"


@pytest.fixture(scope="module")
def mail(sandbox):
    return sandbox.mail


def _settings(mail, **overrides) -> Settings:
    values = dict(
        imap_host=mail.host, imap_port=mail.imaps_port, imap_user=SHARED, imap_password=mail.password,
        imap_security="ssl", imap_ca_file=mail.ca_file, mail_from=MAIL_FROM, imap_poll_s=0.5,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def mailbox(mail):
    with ActivationMailbox(_settings(mail), PORTAL) as box:
        yield box


@pytest.fixture
def warnings():
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message).rstrip("\n")), level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


def _address() -> str:
    return f"ap+{uuid.uuid4().hex[:8]}@ssc.example"


def _link(base: str = PORTAL) -> str:
    return f"{base}/account/activate?token={secrets.token_urlsafe(32)}"


def _message(to: str, link: str, subject: str = "Chorus Pro - Activate your account") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f'"Chorus Pro" <{MAIL_FROM}>'
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg.set_content(f"Hello,\n\nTo activate your account:\n\n{link}\n", cte="quoted-printable")
    msg.add_alternative(
        f'<p>Hello,</p><p><a href="{link}" style="font-weight:bold">Activate my account</a></p>',
        subtype="html", cte="quoted-printable",
    )
    return msg


def _deliver(mail, to: str, link: str, **kwargs) -> None:
    """Deliver like the portal does: LMTP to Dovecot."""
    with smtplib.LMTP(mail.host, mail.lmtp_port, timeout=10) as lmtp:
        lmtp.sendmail(MAIL_FROM, [to], _message(to, link, **kwargs).as_bytes())


def _flags_of(mail, to: str) -> list[set[str]]:
    """Flags of every mail to ``to``, oldest first, read over a second connection."""
    with _admin(mail) as box:
        return [set(m.flags) for m in box.fetch(AND(to=to), mark_seen=False, headers_only=True)]


def _admin(mail) -> MailBox:
    """A second, independent connection to the shared mailbox (a person looking at it)."""
    context = ssl.create_default_context(cafile=str(mail.ca_file))
    return MailBox(mail.host, mail.imaps_port, ssl_context=context).login(SHARED, mail.password)


def test_two_flows_sharing_the_mailbox_each_get_their_own_link(mail, mailbox):
    alice, bob = _address(), _address()
    links = {alice: _link(), bob: _link()}
    since = datetime.now(timezone.utc)
    with ThreadPoolExecutor(2) as pool:
        waits = {who: pool.submit(mailbox.wait_for_link, who, since, 20) for who in (alice, bob)}
        _deliver(mail, bob, links[bob])  # while both wait, in the other order
        _deliver(mail, alice, links[alice])
        got = {who: future.result(timeout=30) for who, future in waits.items()}
    assert got == links
    assert datetime.now(timezone.utc) - since < timedelta(seconds=10)  # no 30 s IDLE renew
    assert _flags_of(mail, alice) == [{"\\Seen"}] and _flags_of(mail, bob) == [{"\\Seen"}]
    token = links[alice].rpartition("token=")[2]
    assert registry.mask(f"pasted {token} alone") == "pasted ******** alone"  # registered: masked anywhere


def test_many_flows_waiting_at_once_are_all_served(mail, mailbox):
    people = [_address() for _ in range(8)]
    links = {who: _link() for who in people}
    since = datetime.now(timezone.utc)
    with ThreadPoolExecutor(len(people)) as pool:
        waits = {who: pool.submit(mailbox.wait_for_link, who, since, 30) for who in people}
        for who in reversed(people):
            _deliver(mail, who, links[who])
        got = {who: future.result(timeout=40) for who, future in waits.items()}
    assert got == links


def test_mail_already_there_is_found_at_once(mail, mailbox):
    who, link = _address(), _link()
    since = datetime.now(timezone.utc)
    _deliver(mail, who, link)
    started = time.monotonic()
    assert mailbox.wait_for_link(who, since, 20) == link
    assert time.monotonic() - started < 5


def test_the_newest_of_duplicates_wins(mail, mailbox):
    who, first, second = _address(), _link(), _link()
    since = datetime.now(timezone.utc)
    _deliver(mail, who, first)
    _deliver(mail, who, second)  # a new mail voids the earlier link
    assert mailbox.wait_for_link(who, since, 20) == second
    assert _flags_of(mail, who) == [set(), {"\\Seen"}]  # only the used one is marked


def test_asking_again_after_an_expired_link_waits_for_the_new_mail(mail, mailbox):
    who, first, second = _address(), _link(), _link()
    since = datetime.now(timezone.utc)
    _deliver(mail, who, first)
    assert mailbox.wait_for_link(who, since, 20) == first
    assert mailbox.wait_for_link(who, since, 20) == first  # a retry from the same checkpoint: same mail
    resent = datetime.now(timezone.utc)  # the link expired: the flow has a new mail sent
    assert mailbox.wait_for_link(who, resent, 1.5) is None  # not the old one, though within the skew
    _deliver(mail, who, second)
    assert mailbox.wait_for_link(who, resent, 20) == second


def test_a_phishing_mail_is_skipped_even_when_newest(mail, mailbox, warnings):
    who, real, fake = _address(), _link(), _link(PHISHING)
    since = datetime.now(timezone.utc)
    _deliver(mail, who, real)
    _deliver(mail, who, fake)
    assert mailbox.wait_for_link(who, since, 20) == real
    assert "ignored a mail whose link points to chorus-pro.example.net" in warnings
    fake_token = fake.rpartition("=")[2]
    assert not any(fake_token in line or real in line for line in warnings)


def test_other_senders_and_subjects_are_ignored(mail, mailbox):
    who = _address()
    since = datetime.now(timezone.utc)
    _deliver(mail, who, _link(), subject="Chorus Pro - Your verification code")
    with smtplib.LMTP(mail.host, mail.lmtp_port, timeout=10) as lmtp:
        msg = _message(who, _link())
        msg.replace_header("From", "Chorus Pro <choruspro.notification.aife@finances.gouv.fr.example.net>")
        lmtp.sendmail("x@example.net", [who], msg.as_bytes())
    assert mailbox.wait_for_link(who, since, 2) is None


def test_a_mail_older_than_since_is_ignored(mail, mailbox):
    who, old, fresh = _address(), _link(), _link()
    _append_old(mail, who, old, age=timedelta(hours=1))  # arrived an hour ago (INTERNALDATE)
    since = datetime.now(timezone.utc)
    assert mailbox.wait_for_link(who, since, 2) is None
    _deliver(mail, who, fresh)
    assert mailbox.wait_for_link(who, since, 20) == fresh
    # ...while a caller asking from before that old mail gets the newest, i.e. still the fresh one
    assert mailbox.wait_for_link(who, since - timedelta(hours=2), 20) == fresh


def _append_old(mail, to: str, link: str, age: timedelta) -> None:
    with _admin(mail) as box:
        box.append(_message(to, link).as_bytes(), "INBOX", dt=datetime.now(timezone.utc) - age)


def test_no_mail_gives_none_after_the_timeout(mailbox):
    started = time.monotonic()
    assert mailbox.wait_for_link(_address(), datetime.now(timezone.utc), 1.5) is None
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 1.5 + 1.0


class _IdleStarts:
    """Counts the IDLE commands the watcher starts (or makes them fail, when `fail`)."""

    def __init__(self, monkeypatch, fail: bool = False) -> None:
        self.count = 0
        self.answered = threading.Event()  # the server took one
        original = IdleManager.start

        def start(manager, *args, **kwargs):
            self.count += 1
            if fail:
                raise AssertionError("IDLE started while a mail was due")
            result = original(manager, *args, **kwargs)
            self.answered.set()
            return result

        monkeypatch.setattr(IdleManager, "start", start)


def test_a_mail_due_any_moment_is_asked_for_without_waiting_on_idle(mail, monkeypatch):
    # Within the quick window the watcher sends NOOPs (the server looks at once) instead of
    # waiting for IDLE's notification, which Dovecot delays by 0.5 s.
    idle = _IdleStarts(monkeypatch, fail=True)
    who, link = _address(), _link()
    since = datetime.now(timezone.utc)
    with ActivationMailbox(_settings(mail), PORTAL) as box, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(box.wait_for_link, who, since, 20)
        assert not waiting.done()
        _deliver(mail, who, link)
        assert waiting.result(timeout=30) == link
    assert idle.count == 0


def test_after_the_quick_window_idle_tells_of_the_mail(mail, monkeypatch):
    monkeypatch.setattr(bot.mail, "QUICK_WINDOW_S", 0.0)
    idle = _IdleStarts(monkeypatch)
    who, link = _address(), _link()
    since = datetime.now(timezone.utc)
    with ActivationMailbox(_settings(mail), PORTAL) as box, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(box.wait_for_link, who, since, 20)
        # The watcher connects, scans, then idles: the mail comes only then.
        assert idle.answered.wait(10), "the watcher never used IDLE"
        assert not waiting.done()
        _deliver(mail, who, link)
        assert waiting.result(timeout=30) == link
    assert datetime.now(timezone.utc) - since < timedelta(seconds=10)  # IDLE told us, no 30 s renew


def test_without_idle_the_mailbox_is_polled(mail, monkeypatch):
    monkeypatch.setattr(bot.mail, "_supports_idle", lambda box: False)  # a server without IDLE
    who, link = _address(), _link()
    since = datetime.now(timezone.utc)
    with ActivationMailbox(_settings(mail, imap_poll_s=0.3), PORTAL) as box, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(box.wait_for_link, who, since, 20)
        assert not waiting.done()
        _deliver(mail, who, link)
        assert waiting.result(timeout=30) == link
    assert datetime.now(timezone.utc) - since < timedelta(seconds=5)


def test_a_dropped_connection_is_reopened(mail, mailbox, warnings):
    first, second = _address(), _address()
    link = _link()
    since = datetime.now(timezone.utc)
    _deliver(mail, first, _link())
    assert mailbox.wait_for_link(first, since, 20) is not None  # the connection is up
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(mailbox.wait_for_link, second, since, 20)
        _kick(mail)  # the server drops every connection of the shared mailbox
        _deliver(mail, second, link)
        assert waiting.result(timeout=30) == link
    assert any(line.startswith("IMAP connection lost") for line in warnings)


def test_a_server_restart_is_ridden_out_while_flows_wait(mail, warnings):
    """Dovecot stops and starts again (same ports) while two flows wait: no waiter fails,
    both get their mail. With ``login_checked`` (the batch's pre-flight logged in), even a
    first connection refused is an outage, not a wrong setting."""
    first, second = _address(), _address()
    links = {first: _link(), second: _link()}
    since = datetime.now(timezone.utc)
    try:
        with ActivationMailbox(_settings(mail), PORTAL, login_checked=True) as box, ThreadPoolExecutor(2) as pool:
            mail.stop(keep=True)
            waiting = {who: pool.submit(box.wait_for_link, who, since, 40) for who in links}
            assert wait_for(lambda: any("IMAP connection lost" in line for line in warnings), 10)
            mail.start()
            for who, link in links.items():
                _deliver(mail, who, link)
            assert {who: future.result(timeout=40) for who, future in waiting.items()} == links
    finally:
        if not mail.alive():
            mail.start()  # the session's sandbox needs it


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)  # polling what the log sink collected
    return False


def _kick(mail) -> None:
    done = subprocess.run(["doveadm", "-c", str(mail.config_file), "kick", SHARED], capture_output=True, timeout=10)
    assert done.returncode == 0, done.stderr


def test_starttls_works_too(mail):
    who, link = _address(), _link()
    since = datetime.now(timezone.utc)
    _deliver(mail, who, link)
    settings = _settings(mail, imap_port=mail.imap_port, imap_security="starttls")
    with ActivationMailbox(settings, PORTAL) as box:
        assert box.wait_for_link(who, since, 20) == link


def test_a_wrong_password_is_a_clear_error_without_the_password(mail):
    wrong = "Wr0ng-" + secrets.token_urlsafe(12)
    with ActivationMailbox(_settings(mail, imap_password=wrong), PORTAL) as box:
        with pytest.raises(ConfigError) as caught:
            box.wait_for_link(_address(), datetime.now(timezone.utc), 20)
    message = str(caught.value)
    assert message == (
        f"IMAP server 127.0.0.1:{mail.imaps_port} refused the login of {SHARED}:"
        " check CHORUS_IMAP_USER and CHORUS_IMAP_PASSWORD"
    )
    assert wrong not in message and mail.password not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_an_untrusted_certificate_is_a_clear_error(mail):
    settings = _settings(mail, imap_ca_file=None)  # the system's CAs do not know the sandbox's CA
    with ActivationMailbox(settings, PORTAL) as box:
        with pytest.raises(ConfigError, match=r"TLS certificate not trusted .*CHORUS_IMAP_CA_FILE"):
            box.wait_for_link(_address(), datetime.now(timezone.utc), 20)


def test_an_unreachable_server_is_a_technical_fault_after_one_retry(mail):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # nobody listens there once closed
    started = time.monotonic()
    with ActivationMailbox(_settings(mail, imap_port=closed_port), PORTAL) as box:
        with pytest.raises(TechnicalFault, match=f"cannot reach the IMAP server 127.0.0.1:{closed_port}"):
            box.wait_for_link(_address(), datetime.now(timezone.utc), 20)
    assert time.monotonic() - started < 5  # fails fast instead of waiting out the timeout


def test_check_login_for_doctor(mail):
    check_login(_settings(mail))  # no exception: connected, logged in, INBOX opened
    with pytest.raises(ConfigError, match="IMAP folder 'Archives/Chorus' does not exist"):
        check_login(_settings(mail, imap_folder="Archives/Chorus"))
    with pytest.raises(ConfigError, match="CHORUS_IMAP_PASSWORD is not set"):
        check_login(_settings(mail, imap_password=None))
