"""The sandbox's real Dovecot, its orchestrator, and `chorus-bot sandbox`.

Mail goes in over LMTP (as the portal sends it) and comes out over IMAP with TLS verified
against the run's CA (as the bot reads it): plus addressing, separate mailboxes, IDLE,
refused passwords, clear start-up errors, and nothing left running or on disk after stop.
"""
from __future__ import annotations

import queue
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from imap_tools import AND, MailBox, MailboxLoginError, MailBoxStartTls
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from fixtures.mailserver.dovecot import INSTALL_HINT, DovecotError, DovecotServer, group_members
from fixtures.portal.mailer import DEFER_RETRY_S, Mailer
from fixtures.portal.server import Sandbox, SandboxError
from fixtures.portal.state import PortalState

SHARED = "ap@ssc.example"
SETTINGS = {
    "CHORUS_PORTAL_URL", "CHORUS_IMAP_HOST", "CHORUS_IMAP_PORT", "CHORUS_IMAP_USER",
    "CHORUS_IMAP_PASSWORD", "CHORUS_IMAP_SECURITY", "CHORUS_IMAP_CA_FILE", "CHORUS_MAIL_FROM",
}


@pytest.fixture(scope="module")
def mail():
    with DovecotServer() as server:
        yield server


def deliver(server: DovecotServer, to: str, subject: str, body: str = "Hello from the portal") -> None:
    msg = EmailMessage()
    msg["From"] = '"Chorus Pro" <choruspro.notification.aife@finances.gouv.fr>'
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.LMTP(server.host, server.lmtp_port) as lmtp:
        refused = lmtp.send_message(msg)
    assert refused == {}


def tls(server: DovecotServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.ca_file))


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


# -- Dovecot --------------------------------------------------------------------------


def test_plus_address_lands_in_the_shared_inbox_over_implicit_tls(mail):
    subject = f"Activate {uuid.uuid4()}"
    deliver(mail, f"ap+{uuid.uuid4().hex[:8]}@ssc.example", subject, "Your link is here")
    with MailBox(mail.host, mail.imaps_port, ssl_context=tls(mail)).login(SHARED, mail.password) as box:
        msgs = list(box.fetch(AND(subject=subject)))
    assert len(msgs) == 1
    assert msgs[0].to[0].startswith("ap+") and "Your link is here" in msgs[0].text


def test_starttls_reads_the_same_mailbox(mail):
    subject = f"Starttls {uuid.uuid4()}"
    deliver(mail, "ap+starttls@ssc.example", subject)
    with MailBoxStartTls(mail.host, mail.imap_port, ssl_context=tls(mail)).login(SHARED, mail.password) as box:
        assert [m.subject for m in box.fetch(AND(subject=subject))] == [subject]


def test_the_certificate_is_verified_against_the_run_ca_only(mail):
    with pytest.raises(ssl.SSLCertVerificationError):
        MailBox(mail.host, mail.imaps_port, ssl_context=ssl.create_default_context())


def test_each_address_less_its_detail_is_its_own_mailbox(mail):
    subject = f"For Bob {uuid.uuid4()}"
    deliver(mail, "bob+x@ssc.example", subject)
    with MailBox(mail.host, mail.imaps_port, ssl_context=tls(mail)).login("bob@ssc.example", mail.password) as box:
        assert len(list(box.fetch(AND(subject=subject)))) == 1
    with MailBox(mail.host, mail.imaps_port, ssl_context=tls(mail)).login(SHARED, mail.password) as box:
        assert list(box.fetch(AND(subject=subject))) == []


def test_a_wrong_password_is_refused(mail):
    with pytest.raises(MailboxLoginError):
        MailBox(mail.host, mail.imaps_port, ssl_context=tls(mail)).login(SHARED, mail.password + "x")


def test_idle_is_offered_and_wakes_up_on_delivery(mail):
    with MailBox(mail.host, mail.imaps_port, ssl_context=tls(mail)).login(SHARED, mail.password) as box:
        assert "IDLE" in box.client.capabilities
        box.idle.start()
        try:
            deliver(mail, "ap+idle@ssc.example", f"Idle {uuid.uuid4()}")
            responses = box.idle.poll(timeout=10)
        finally:
            box.idle.stop()
    assert any(b"EXISTS" in line for line in responses)


def test_the_generated_config_is_valid_dovecot_2_3(mail):
    check = subprocess.run(["doveconf", "-c", str(mail.config_file), "-n"], capture_output=True, text=True)
    assert check.returncode == 0 and check.stderr == "", check.stderr


def test_a_taken_port_is_one_clear_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DovecotError) as err:
            DovecotServer(lmtp_port=port).start()
    assert f"127.0.0.1:{port}" in str(err.value) and "\n" not in str(err.value)


def test_a_free_port_taken_before_dovecot_binds_it_is_picked_again(monkeypatch):
    picks = []
    pick_free_ports = DovecotServer._pick_ports
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()

        def pick_then_lose_the_race(server):
            pick_free_ports(server)
            picks.append(server.lmtp_port)
            if len(picks) == 1:  # someone else grabs the LMTP port before Dovecot binds it
                server.lmtp_port = taken.getsockname()[1]

        monkeypatch.setattr(DovecotServer, "_pick_ports", pick_then_lose_the_race)
        with DovecotServer() as server:
            assert len(picks) == 2 and server.lmtp_port != taken.getsockname()[1]
            deliver(server, "ap+race@ssc.example", "After the race")


def test_a_missing_dovecot_says_what_to_install():
    with pytest.raises(DovecotError) as err:
        DovecotServer(binary="/nonexistent/sbin/dovecot").start()
    assert str(err.value) == INSTALL_HINT


def test_stop_leaves_no_process_and_no_folder():
    server = DovecotServer().start()
    pid, folder, port = server.pid, server.folder, server.imaps_port
    assert group_members(pid) and processes_mentioning(str(folder))
    server.stop()
    server.stop()  # idempotent
    assert group_members(pid) == []
    assert processes_mentioning(str(folder)) == []
    assert not folder.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_a_restart_keeps_the_ports_the_certificate_and_the_mail():
    """A mail server restart: stop(keep=True) then start() is the same server to its clients."""
    with DovecotServer() as server:
        to, subject = f"ap+{uuid.uuid4().hex[:8]}@ssc.example", f"Before the restart {uuid.uuid4()}"
        deliver(server, to, subject)
        ports, ca, pid = (server.imap_port, server.imaps_port, server.lmtp_port), server.ca_file.read_bytes(), server.pid
        server.stop(keep=True)
        assert not server.alive() and group_members(pid) == []
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", ports[1]), timeout=1).close()
        server.start()
        assert (server.imap_port, server.imaps_port, server.lmtp_port) == ports and server.ca_file.read_bytes() == ca
        with MailBox(server.host, server.imaps_port, ssl_context=tls(server)).login(SHARED, server.password) as box:
            assert [m.subject for m in box.fetch(AND(to=to), mark_seen=False)] == [subject]
        folder = server.folder
    assert not folder.exists()


def test_a_mail_sent_while_the_server_is_down_is_deferred_then_delivered():
    """The portal's mailer queues a mail Dovecot cannot take (stopped for a restart) and
    delivers it once Dovecot is back, as a real MTA does: no mail is lost to a restart."""
    with DovecotServer() as server:
        state = PortalState("default", {}, None)
        mailer = Mailer(state, server.host, server.lmtp_port, "choruspro.notification.aife@finances.gouv.fr")
        to = f"ap+{uuid.uuid4().hex[:8]}@ssc.example"
        server.stop(keep=True)
        mailer.send_otp(to, "en", "482913")
        [sent] = state.snapshot()["mails"]
        threading.Event().wait(2 * DEFER_RETRY_S)  # the downtime: at least one delivery refused
        assert sent["kind"] == "otp" and state.snapshot()["mails"][0]["delivered_at"] is None
        server.start()
        deadline = time.monotonic() + 20
        while state.snapshot()["mails"][0]["delivered_at"] is None and time.monotonic() < deadline:
            threading.Event().wait(0.1)
        assert state.snapshot()["mails"][0]["delivered_at"], "the deferred mail never reached Dovecot"
        with MailBox(server.host, server.imaps_port, ssl_context=tls(server)).login(SHARED, server.password) as box:
            assert ["482913" in m.text for m in box.fetch(AND(to=to), mark_seen=False)] == [True]


# -- the orchestrator, with a stand-in portal ------------------------------------------


def stub_portal(sandbox: Sandbox) -> Starlette:
    """A stand-in for fixtures.portal.app that proves Dovecot was started first."""
    assert sandbox.mail.alive() and sandbox.mail.lmtp_port
    return Starlette(routes=[Route("/_sandbox/state", lambda request: JSONResponse({"cea_hits": 0}))])


def test_sandbox_runs_mail_then_portal_and_cleans_up():
    box = Sandbox(port=0, app_factory=stub_portal).start()
    try:
        env, folder = box.env, box.folder
        assert set(env) == SETTINGS and env["CHORUS_PORTAL_URL"] == box.url != "http://127.0.0.1:0"
        assert httpx.get(box.url + "/_sandbox/state").json() == {"cea_hits": 0}
        ctx = ssl.create_default_context(cafile=env["CHORUS_IMAP_CA_FILE"])
        with MailBox(env["CHORUS_IMAP_HOST"], int(env["CHORUS_IMAP_PORT"]), ssl_context=ctx).login(
            env["CHORUS_IMAP_USER"], env["CHORUS_IMAP_PASSWORD"]
        ) as mailbox:
            assert mailbox.folder.get() == "INBOX"
        assert box.failure() is None
    finally:
        box.stop()
    box.stop()
    assert not folder.exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(box.url + "/_sandbox/state", timeout=2)


def test_sandbox_on_a_taken_port_is_one_clear_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SandboxError) as err:
            Sandbox(port=port, app_factory=stub_portal).start()
    assert f"127.0.0.1:{port}" in str(err.value) and "\n" not in str(err.value)


def test_sandbox_with_an_unreadable_insee_folder_is_one_clear_line(tmp_path):
    with pytest.raises(SandboxError, match="INSEE folder .* is not a readable folder"):
        Sandbox(insee_dir=tmp_path / "missing", app_factory=stub_portal).start()
    with pytest.raises(SandboxError, match="holds no <siret>.json file"):
        Sandbox(insee_dir=tmp_path, app_factory=stub_portal).start()


# -- `chorus-bot sandbox` ---------------------------------------------------------------


def read_lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


def test_cli_sandbox_prints_its_settings_and_stops_cleanly_on_sigterm(tmp_path):
    cli = Path(sys.executable).with_name("chorus-bot")
    errors = tmp_path / "stderr.txt"
    with open(errors, "w") as stderr:  # a file, not a pipe nobody reads: it can never fill up and block
        proc = subprocess.Popen(
            [str(cli), "sandbox", "--port", "0"], cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=stderr
        )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        printed, deadline = [], time.monotonic() + 60
        while "sandbox ready" not in printed:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"chorus-bot sandbox exited: {proc.wait()} {errors.read_text()}"
            printed.append(line)
        env = dict(line.split("=", 1) for line in printed[:-1])
        assert set(env) == SETTINGS and env["CHORUS_IMAP_USER"] == SHARED
        assert httpx.get(env["CHORUS_PORTAL_URL"] + "/").status_code == 200
        ctx = ssl.create_default_context(cafile=env["CHORUS_IMAP_CA_FILE"])
        with MailBox(env["CHORUS_IMAP_HOST"], int(env["CHORUS_IMAP_PORT"]), ssl_context=ctx).login(
            env["CHORUS_IMAP_USER"], env["CHORUS_IMAP_PASSWORD"]
        ):
            pass
        folder = next(p for p in Path(env["CHORUS_IMAP_CA_FILE"]).parents if p.name.startswith("chorus-sandbox-"))
        (dovecot,) = [pid for pid in processes_mentioning(str(folder)) if pid != proc.pid]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, errors.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not folder.exists()
    assert group_members(dovecot) == []
    with pytest.raises(httpx.TransportError):
        httpx.get(env["CHORUS_PORTAL_URL"] + "/", timeout=2)
