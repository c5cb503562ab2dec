"""Wait for the portal's mails over IMAP: the activation mail's link, and the log-in's
one-time code (the account-first journey).

Why one watcher thread: a batch runs many flows against one (often shared) mailbox.
One IMAP connection, one loop that fetches what is new (IDLE where the server offers
it, else a poll every ``CHORUS_IMAP_POLL_S``; in the first seconds of a wait, a NOOP
every 0.2 s, faster than IDLE's notice) and hands each mail to the flow whose
login email it was sent to. Flows only register a waiter and sleep on an event; the
connection is touched by the watcher thread alone, so nothing else needs its lock.

Outages: once the server has taken our login (here, or in the caller's pre-flight), a
lost connection (a mail server restart, a network blip) is re-opened with back-off (0.5 s
doubling to 10 s) while the flows keep waiting, each until its own timeout: a restart
costs no attempt. A server never reached at all fails the waiters after one retry, since
a setting is then the likely cause.

Which mail: from ``CHORUS_MAIL_FROM``, to exactly the login email (with its "+detail":
``ap+a@`` and ``ap+b@`` share the mailbox ``ap@`` but are two accounts), received after
``since`` (taken before the click that sends it; less 5 s of clock skew), with the activation subject,
the NEWEST such mail (a new mail voids the earlier links). A link already returned is
not returned again to a caller whose ``since`` is later than that (it asked for a new
mail because that link expired), skew or not. A mail whose link leaves the
portal's origin (scheme, host, port) is a phishing attempt: it is skipped, with a
warning naming its host only.

One-time codes (``wait_for_code``) are matched the same way (sender, exact recipient,
received after ``since``, the newest), by the verification-code subject; the code is the
6-digit number of the mail's text.

Secrets: the link and the code are credentials. Each is registered with ``bot.secrets.registry``
the moment it is returned, and never reaches a log line or an exception message; neither
does the IMAP password.
"""
from __future__ import annotations

import copy
import imaplib
import os
import re
import select
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import getaddresses
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urlsplit

from imap_tools import AND, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError, MailboxFolderSelectError, MailboxLoginError
from imap_tools.mailbox import BaseMailBox
from imap_tools.message import MailMessage
from loguru import logger

from bot.errors import ConfigError, TechnicalFault
from bot.labels import MAIL_ACTIVATION_ANCHORS, MAIL_ACTIVATION_SUBJECTS, MAIL_CODE_SUBJECTS
from bot.secrets import registry
from bot.settings import ImapSecurity, Settings, env_name

CLOCK_SKEW = timedelta(seconds=5)
# IDLE is renewed (and the mailbox re-scanned) this often: a safety net for a notification
# lost on the way, and far below the 29 minutes after which servers drop an idle client.
IDLE_RENEW_S = 30.0
# IDLE tells of a new mail only after the server's own delay: Dovecot gathers its change
# notifications for 0.5 s before it sends one. For the first seconds of a wait, when the
# portal's mail is due any moment, the watcher asks instead (a NOOP, which makes the server
# look at once) every QUICK_POLL_S, then goes back to IDLE. A mail that comes later is still
# noticed by IDLE, within the server's delay.
QUICK_POLL_S = 0.2
QUICK_WINDOW_S = 15.0
CONNECT_TIMEOUT_S = 30.0
# Reconnection back-off once a connection that worked is lost (server restart, network blip).
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 10.0
FETCH_CHUNK = 50

_URL = re.compile(r"https?://[^\s\"'<>]+")
_TOKEN_PATH = "/activate?token="  # /account/activate (the guide's portal), /aife_csm/activate (today's)
_CODE = re.compile(r"(?<![\d-])\d{6}(?![\d-])")
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_INTERNALDATE = re.compile(rb'INTERNALDATE "[^"]+"')
_UID = re.compile(rb"UID (\d+)")
_NETWORK_ERRORS = (OSError, EOFError, imaplib.IMAP4.error, ImapToolsError, TechnicalFault)


# ---- parsing (pure) ---------------------------------------------------------------------------


class _AnchorParser(HTMLParser):
    """Collects (href, text) of every <a>; hrefs unescaped, without the tabs and line breaks
    a browser drops from a URL (a mailer may fold a long attribute)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[str, str]] = []
        self.texts: list[str] = []  # every text of the document, in order
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data):
        self.texts.append(data)
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            href = _TAB_OR_NEWLINE.sub("", self._href).strip()
            self.anchors.append((href, " ".join("".join(self._text).split())))
            self._href = None


def extract_activation_link(msg_html_or_text: str) -> str | None:
    """The activation link of a decoded mail body (HTML or plain text), or None.

    The href of the anchor "Activate my account" / "Activer mon compte"; else the first
    ``/account/activate?token=`` URL of the text. HTML entities (``&amp;``) are unescaped.
    """
    if not msg_html_or_text:
        return None
    parser = _AnchorParser()
    try:
        parser.feed(msg_html_or_text)
        parser.close()
    except AssertionError:
        pass  # CPython's HTMLParser asserts on some malformed declarations ("<![x["): keep what came before
    for href, text in parser.anchors:
        if href and any(label in text.casefold() for label in MAIL_ACTIVATION_ANCHORS):
            return href
    return _first_token_url(unescape(msg_html_or_text))


def _first_token_url(text: str) -> str | None:
    """The first URL of the text with the activation path and a token, less trailing punctuation.

    Each run of URL characters is looked at once: a lazy regex up to the path would rescan the
    rest of a long run from each "http" in it (quadratic: seconds for a 40 kB mail).
    """
    for match in _URL.finditer(text):
        url = match.group(0)
        path = url.find(_TOKEN_PATH, url.index("//") + 3)  # at least one character of host
        if path != -1 and len(url) > path + len(_TOKEN_PATH):
            return url.rstrip(".,;:!?)]}")
    return None


def is_portal_link(link: str, portal: str) -> bool:
    """True when ``link`` has the portal's scheme, host and port.

    ``portal`` is the portal's URL (``CHORUS_PORTAL_URL``), or a bare ``host[:port]``
    (then the scheme is not compared).
    """
    try:
        got = urlsplit(link)
        want = urlsplit(portal if "://" in portal else f"//{portal}")
        if "\\" in got.netloc:  # a browser ends the host at a backslash: http://evil\@portal/ opens evil
            return False
        if want.scheme and got.scheme.lower() != want.scheme.lower():
            return False
        if not got.hostname or got.hostname != want.hostname:
            return False
        if want.scheme or want.port is not None:
            return _port(got) == _port(want)
        return True
    except ValueError:  # a malformed port or IPv6 literal
        return False


def _port(url) -> int | None:
    return url.port or {"http": 80, "https": 443}.get(url.scheme.lower())


def _addresses(values: list[str]) -> frozenset[str]:
    return frozenset(addr.casefold() for _, addr in getaddresses(values) if addr)


@dataclass(frozen=True)
class ParsedMail:
    """What the matching needs of one mail. ``repr`` hides the link."""

    sender: str
    recipients: frozenset[str]  # To + Cc
    envelope: frozenset[str]  # Delivered-To + X-Original-To (set by the delivering server)
    subject: str
    date: datetime | None  # the Date header, UTC
    link: str | None = field(repr=False)
    code: str | None = field(default=None, repr=False)  # a verification-code mail's 6 digits

    @property
    def is_activation(self) -> bool:
        return self.subject in MAIL_ACTIVATION_SUBJECTS

    @property
    def is_code(self) -> bool:
        return self.subject in MAIL_CODE_SUBJECTS

    def addressed_to(self, email: str) -> bool:
        """Sent to exactly ``email`` (case-insensitive, "+detail" included).

        The envelope headers count only when To/Cc name no address of the same base
        mailbox: for ``ap+a@`` a server may write ``Delivered-To: ap@``, which must not
        make the mail look addressed to a flow whose login email is ``ap@`` itself.
        """
        email = email.casefold()
        if email in self.recipients:
            return True
        if email in self.envelope:
            base = _base_mailbox(email)
            return not any(_base_mailbox(addr) == base for addr in self.recipients)
        return False


def _base_mailbox(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _decoded(msg: MailMessage, name: str) -> str:
    """``msg.subject``, ``.from_``, ``.html`` or ``.text``; "" when the mail names a charset
    that cannot decode leniently (imap_tools decodes with errors="ignore", which codecs such as
    idna or "undefined" refuse with a UnicodeError): such a part is no activation mail's."""
    try:
        return getattr(msg, name) or ""
    except UnicodeError:
        return ""


def parse_mail(raw: bytes) -> ParsedMail:
    """Decode one RFC 822 mail (MIME, quoted-printable, encoded headers) into a ``ParsedMail``."""
    msg = MailMessage.from_bytes(raw)
    headers = msg.obj
    try:
        date = msg.date.astimezone(timezone.utc) if msg.date_str and msg.date.tzinfo else None
    except (ValueError, OverflowError):
        date = None
    return ParsedMail(
        sender=_decoded(msg, "from_").casefold(),
        recipients=_addresses(headers.get_all("To", []) + headers.get_all("Cc", [])),
        envelope=_addresses(headers.get_all("Delivered-To", []) + headers.get_all("X-Original-To", [])),
        subject=" ".join(_decoded(msg, "subject").split()),
        date=date,
        link=extract_activation_link(_decoded(msg, "html")) or extract_activation_link(_decoded(msg, "text")),
        code=extract_code(_decoded(msg, "text")) or extract_code(_text_of_html(_decoded(msg, "html"))),
    )


def extract_code(text: str) -> str | None:
    """The one-time code of a verification-code mail's text: its only 6-digit number.

    None when the text holds none, or several different ones (then which one is the code
    cannot be told, and typing a wrong one costs an attempt)."""
    codes = set(_CODE.findall(text or ""))
    return codes.pop() if len(codes) == 1 else None


def _text_of_html(html: str) -> str:
    parser = _AnchorParser()
    try:
        parser.feed(html or "")
        parser.close()
    except AssertionError:
        pass
    return " ".join(parser.texts)


# ---- the mailbox ------------------------------------------------------------------------------


LINK, CODE = "activation link", "one-time code"  # what a flow waits for (and how the registry names it)


@dataclass
class _Waiter:
    email: str
    since: datetime  # as asked, UTC
    kind: str = LINK

    @property
    def earliest(self) -> datetime:
        """The oldest arrival accepted: `since` less the clock skew between us and the server."""
        return self.since - CLOCK_SKEW
    done: threading.Event = field(default_factory=threading.Event)
    value: str | None = field(default=None, repr=False)  # the link or the code
    registered: float = field(default_factory=time.monotonic)
    error: BaseException | None = None


@dataclass
class _Outage:
    """A lost IMAP connection being re-established: when it began, the next back-off."""

    began: float = field(default_factory=time.monotonic)
    delay: float = RECONNECT_FIRST_S

    def seconds(self) -> float:
        return time.monotonic() - self.began

    def next_delay(self) -> float:
        delay, self.delay = self.delay, min(self.delay * 2, RECONNECT_MAX_S)
        return delay


@dataclass(frozen=True)
class _Seen:
    """A fetched mail from MAIL_FROM, kept by UID so it is fetched once per connection."""

    uid: int
    received: datetime | None
    mail: ParsedMail | None  # None: unreadable
    kind: str | None  # LINK: an activation mail from MAIL_FROM with a link to the portal; CODE: a code mail

    @property
    def value(self) -> str | None:
        if self.mail is None:
            return None
        return self.mail.link if self.kind == LINK else self.mail.code if self.kind == CODE else None


class ActivationMailbox:
    """One IMAP connection, shared by every flow of the process; thread-safe."""

    def __init__(self, settings: Settings, portal_host: str, *, login_checked: bool = False) -> None:
        """``login_checked``: the caller logged in with these settings already (``check_login``
        as a pre-flight), so even a first connection that fails is an outage to ride out."""
        settings.require("imap_host", "imap_user", "imap_password")
        self._settings = settings
        self._portal = portal_host
        self._lock = threading.Lock()  # guards _waiters, _thread, _closed
        self._waiters: list[_Waiter] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        # touched by the watcher thread only (and by close() once it has stopped)
        self._box: BaseMailBox | None = None
        self._reached = login_checked  # the server took our login once: a lost connection is an outage
        self._idle = False
        self._cache: dict[int, _Seen] = {}
        # When each link was last returned (our clock, as `since`). A caller asking with a
        # `since` later than that knows this link already (it expired and a new mail was
        # asked for): the clock-skew tolerance must not hand it the old mail again.
        self._handed: dict[str, datetime] = {}

    def __enter__(self) -> ActivationMailbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the flows' side --

    def wait_for_link(self, email: str, since: datetime, timeout_s: float) -> str | None:
        """The link of the newest activation mail to ``email`` received after ``since``.

        None after ``timeout_s``. A naive ``since`` is local time. Raises ``ConfigError``
        (login refused, untrusted certificate, no such folder) or ``TechnicalFault``
        (server unreachable, connection lost twice).
        """
        return self._wait(_Waiter(email=email.strip().casefold(), since=since.astimezone(timezone.utc)), timeout_s)

    def wait_for_code(self, email: str, since: datetime, timeout_s: float) -> str | None:
        """The code of the newest verification-code mail to ``email`` received after ``since``
        (taken before pressing "Log in"); None after ``timeout_s``. Raises as ``wait_for_link``."""
        waiter = _Waiter(email=email.strip().casefold(), since=since.astimezone(timezone.utc), kind=CODE)
        return self._wait(waiter, timeout_s)

    def _wait(self, waiter: _Waiter, timeout_s: float) -> str | None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the activation mailbox is closed")
            self._waiters.append(waiter)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="imap-watcher", daemon=True)
                self._thread.start()
        self._wake()
        waiter.done.wait(timeout_s)
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            idle = not self._waiters
        if idle:
            self._wake()  # let the watcher leave IDLE and stop
        if waiter.error is not None:
            raise copy.copy(waiter.error) from None  # one instance per raising thread
        return waiter.value

    def close(self) -> None:
        """Stop the watcher, fail any waiter, log out. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._wake()
        if thread is not None:
            thread.join(CONNECT_TIMEOUT_S)
        self._fail_waiters(TechnicalFault("the activation mailbox was closed"))
        self._disconnect()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- the watcher thread --

    def _watch(self) -> None:
        failures = 0  # network errors in a row before this mailbox ever connected
        outage: _Outage | None = None  # a connection that worked is lost: ride it out
        while True:
            with self._lock:
                if self._closed or not self._waiters:
                    self._thread = None
                    return
            try:
                if self._box is None:
                    self._box = self._connect()
                    self._reached = True
                    if outage is not None:
                        logger.info(f"IMAP connection back after {outage.seconds():.0f} s")
                        outage = None
                self._scan()
                failures = 0
                self._wait_for_news()
            except ConfigError as exc:
                self._disconnect()
                self._fail_waiters(exc)
            except _NETWORK_ERRORS as exc:
                self._disconnect()
                if self._reached:
                    # A server that answered before is restarting or briefly unreachable: the
                    # flows keep waiting (each until its own timeout) while we reconnect.
                    if outage is None:
                        outage = _Outage()
                        logger.warning(f"IMAP connection lost ({type(exc).__name__}): reconnecting")
                    self._pause(outage.next_delay())
                    continue
                failures += 1
                if failures > 1:  # never reached at all: a setting or the server is wrong, say so now
                    failures = 0
                    self._fail_waiters(exc if isinstance(exc, TechnicalFault) else self._fault(exc))
                else:
                    logger.warning(f"IMAP connection lost ({type(exc).__name__}): reconnecting")
            except Exception as exc:  # a bug must reach the flows, not die silently in a thread
                self._disconnect()
                self._fail_waiters(self._fault(exc))

    def _pause(self, seconds: float) -> None:
        """Sleep before a reconnection; a waiter arriving or leaving, or close(), cuts it short."""
        select.select([self._wake_r], [], [], seconds)
        self._drain_wake()

    def _fault(self, exc: BaseException) -> TechnicalFault:
        host, port = self._settings.imap_host, self._settings.effective_imap_port
        reason = registry.mask(str(exc))[:200]
        return TechnicalFault(f"IMAP server {host}:{port} failed: {type(exc).__name__}: {reason}")

    def _connect(self) -> BaseMailBox:
        box = _open(self._settings)
        self._idle = _supports_idle(box)
        self._cache.clear()  # UIDs are only worth their UIDVALIDITY: start afresh
        return box

    def _disconnect(self) -> None:
        box, self._box = self._box, None
        if box is not None:
            _logout_quietly(box)

    def _scan(self) -> None:
        """Fetch the new mails from MAIL_FROM, then serve every waiter that has its mail."""
        with self._lock:
            waiters = list(self._waiters)
        if not waiters:
            return
        box = self._box
        _take_news(box)  # what arrives from here on shows as EXISTS: _wait_for_news looks again
        oldest = min(w.earliest for w in waiters)
        # SEARCH SINCE is a date without time zone: one day earlier is always wide enough.
        criteria = AND(from_=self._settings.mail_from, date_gte=(oldest - timedelta(days=1)).date())
        new = [uid for uid in map(int, box.uids(criteria)) if uid not in self._cache]
        for start in range(0, len(new), FETCH_CHUNK):
            self._fetch(new[start : start + FETCH_CHUNK])
        for waiter in waiters:
            seen = self._newest_for(waiter)
            if seen is None:
                continue
            result = box.client.uid("STORE", str(seen.uid), "+FLAGS", "(\\Seen)")
            if result[0] != "OK":
                raise TechnicalFault(f"IMAP server refused to mark mail {seen.uid} as seen")
            value = seen.value
            registry.add(value, waiter.kind)  # from now on masked everywhere
            with self._lock:
                if waiter not in self._waiters:
                    continue  # timed out meanwhile
                self._waiters.remove(waiter)
                waiter.value = value
            self._handed[value] = datetime.now(timezone.utc)
            what = "activation mail" if waiter.kind == LINK else "verification-code mail"
            logger.info(f"{what} for {waiter.email} found (received {seen.received:%H:%M:%S} UTC)")
            waiter.done.set()

    def _fetch(self, uids: list[int]) -> None:
        box = self._box
        typ, data = box.client.uid("FETCH", ",".join(map(str, uids)), "(UID INTERNALDATE BODY.PEEK[])")
        if typ != "OK":
            raise TechnicalFault("IMAP server refused to fetch the new mails")
        for i, item in enumerate(data):
            if not isinstance(item, tuple):
                continue
            meta = item[0] + (data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b"")
            uid = _UID.search(meta)
            if uid is None:
                continue
            number = int(uid.group(1))
            try:
                mail = parse_mail(item[1])
            except Exception as exc:  # one odd mail in a shared mailbox must not stop every flow
                logger.warning(f"ignored an unreadable mail (UID {number}: {type(exc).__name__})")
                self._cache[number] = _Seen(number, None, None, kind=None)
                continue
            received = _internaldate(meta) or mail.date
            self._cache[number] = _Seen(number, received, mail, self._kind(mail))

    def _kind(self, mail: ParsedMail) -> str | None:
        """LINK for an activation mail from MAIL_FROM with a link to the portal, CODE for a
        verification-code mail from MAIL_FROM with its code; None (and a warning) otherwise."""
        if mail.sender != self._settings.mail_from.casefold():
            return None
        if mail.is_code:
            if mail.code is None:
                logger.warning("ignored a verification-code mail without a 6-digit code")
                return None
            return CODE
        if not mail.is_activation:
            return None
        if mail.link is None:
            logger.warning("ignored an activation mail without an activation link")
            return None
        if not is_portal_link(mail.link, self._portal):
            try:
                host = urlsplit(mail.link).hostname or "(no host)"
            except ValueError:
                host = "(malformed)"
            logger.warning(f"ignored a mail whose link points to {host}")
            return None
        return LINK

    def _newest_for(self, waiter: _Waiter) -> _Seen | None:
        matches = [
            seen
            for seen in self._cache.values()
            if seen.kind == waiter.kind
            and seen.received is not None
            and seen.received >= waiter.earliest
            and waiter.since <= self._handed.get(seen.value, waiter.since)
            and seen.mail.addressed_to(waiter.email)
        ]
        return max(matches, key=lambda seen: (seen.received, seen.uid), default=None)

    def _wait_for_news(self) -> None:
        """Block until the server announces a change, a waiter arrives or leaves, or a timeout."""
        box = self._box
        if _take_news(box):
            return  # a mail arrived during the last scan (its EXISTS came with a FETCH or STORE)
        with self._lock:
            if not self._waiters:
                return  # the last one was served: the watcher stops
        if self._idle and self._mail_due():
            self._ask_until_news(box)
        elif self._idle:
            box.idle.start()
            try:
                if not _input_buffered(box.client):
                    select.select([box.client.sock, self._wake_r], [], [], IDLE_RENEW_S)
            finally:
                box.idle.stop()
        else:
            select.select([self._wake_r], [], [], self._settings.imap_poll_s)
            box.client.noop()
        self._drain_wake()

    def _mail_due(self) -> bool:
        """A waiter came within QUICK_WINDOW_S: its mail may arrive any moment."""
        with self._lock:
            newest = max((w.registered for w in self._waiters), default=-QUICK_WINDOW_S)
        return time.monotonic() - newest < QUICK_WINDOW_S

    def _ask_until_news(self, box: BaseMailBox) -> None:
        """NOOP every QUICK_POLL_S until the server tells of a change, a waiter arrives or
        leaves, or no mail is due any more (see QUICK_POLL_S)."""
        while self._mail_due():
            if select.select([self._wake_r], [], [], QUICK_POLL_S)[0]:
                return
            box.client.noop()
            if box.client.untagged_responses.get("EXISTS"):
                return

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # already awake (pipe full) or closed

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except (BlockingIOError, OSError):
            pass

    def _fail_waiters(self, error: BaseException) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.error = error
            waiter.done.set()


def _supports_idle(box: BaseMailBox) -> bool:
    """IDLE among the capabilities the server announces once logged in (they may grow at login)."""
    typ, data = box.client.capability()
    announced = data[-1] if typ == "OK" and data and data[-1] else b""
    return "IDLE" in announced.decode(errors="replace").upper().split()


def _take_news(box: BaseMailBox) -> bool:
    """Whether the server announced new mail (EXISTS) since the last call; forgets it."""
    responses = box.client.untagged_responses
    return responses.pop("EXISTS", None) is not None


def _input_buffered(client: imaplib.IMAP4) -> bool:
    """Whether the server's next line is already read (TLS layer or imaplib's buffer).

    select() only sees the socket: a notification that arrived together with IDLE's
    "+ idling" line sits in a buffer, and select() would sleep on it until the timeout.
    """
    sock = client.sock
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        return bool(client.file.peek(1))  # no wait: returns the buffer, else reads what is there
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    finally:
        sock.settimeout(timeout)


def _internaldate(meta: bytes) -> datetime | None:
    """The server's INTERNALDATE (arrival time) of a FETCH response, UTC."""
    match = _INTERNALDATE.search(meta)
    parsed = imaplib.Internaldate2tuple(match.group(0)) if match else None
    return datetime.fromtimestamp(time.mktime(parsed), timezone.utc) if parsed else None


def _logout_quietly(box: BaseMailBox) -> None:
    try:
        box.logout()
    except Exception:  # the connection is being dropped anyway
        pass


def _open(s: Settings) -> BaseMailBox:
    """Connect, verify TLS, log in, select the folder; one-line errors that never hold the password."""
    host, port = s.imap_host, s.effective_imap_port
    context = ssl.create_default_context(cafile=str(s.imap_ca_file) if s.imap_ca_file else None)
    try:
        if s.imap_security is ImapSecurity.ssl:
            box = MailBox(host, port, timeout=CONNECT_TIMEOUT_S, ssl_context=context)
        elif s.imap_security is ImapSecurity.starttls:
            box = MailBoxStartTls(host, port, timeout=CONNECT_TIMEOUT_S, ssl_context=context)
        else:
            box = MailBoxUnencrypted(host, port, timeout=CONNECT_TIMEOUT_S)
    except ssl.SSLCertVerificationError as exc:
        raise ConfigError(
            f"IMAP server {host}:{port}: TLS certificate not trusted ({exc.verify_message});"
            f" check {env_name('imap_ca_file')}"
        ) from None
    except (OSError, ImapToolsError, imaplib.IMAP4.error) as exc:
        raise TechnicalFault(f"cannot reach the IMAP server {host}:{port}: {type(exc).__name__}: {exc}") from None
    try:
        box.login(s.imap_user, s.imap_password.get_secret_value(), initial_folder=None)
    except MailboxLoginError as exc:
        _logout_quietly(box)
        answer = login_answer(exc.command_result)
        if login_refusal_is_temporary(answer):  # e.g. a server restarting: retried as any outage
            raise TechnicalFault(f"IMAP server {host}:{port} cannot log in for now: {registry.mask(answer)[:200]}") from None
        raise ConfigError(
            f"IMAP server {host}:{port} refused the login of {s.imap_user}:"
            f" check {env_name('imap_user')} and {env_name('imap_password')}"
        ) from None
    try:
        box.folder.set(s.imap_folder)
    except MailboxFolderSelectError:
        _logout_quietly(box)
        raise ConfigError(f"IMAP folder '{s.imap_folder}' does not exist: check {env_name('imap_folder')}") from None
    return box


# RFC 5530 response codes of a refusal that says nothing of the credentials: try again later.
_TEMPORARY_LOGIN_REFUSAL = re.compile(r"\[(UNAVAILABLE|SERVERBUG|INUSE)\]|temporar", re.IGNORECASE)


def login_answer(command_result: tuple) -> str:
    """The text of the server's answer to LOGIN (imaplib's ``(status, [data...])``)."""
    parts = command_result[1] if len(command_result) > 1 and command_result[1] else []
    return " ".join(p.decode(errors="replace") if isinstance(p, bytes) else str(p) for p in parts).strip()


def login_refusal_is_temporary(answer: str) -> bool:
    """Whether a refused LOGIN is the server's passing trouble (``NO [UNAVAILABLE] Temporary
    authentication failure`` while Dovecot restarts), not wrong credentials
    (``NO [AUTHENTICATIONFAILED] Authentication failed.``)."""
    return bool(_TEMPORARY_LOGIN_REFUSAL.search(answer))


def check_login(settings: Settings) -> None:
    """Connect, log in and open the folder once, then log out (for ``chorus-bot doctor``).

    Raises ``ConfigError`` (missing setting, login refused, untrusted certificate, no such
    folder) or ``TechnicalFault`` (server unreachable), each with a one-line message.
    """
    settings.require("imap_host", "imap_user", "imap_password")
    _logout_quietly(_open(settings))
