"""Helpers of the trace tests: the test site's token, the artifact scanner, and the activation
links a run's mails carried (secrets to look for)."""
from __future__ import annotations

import ssl
import zipfile
from pathlib import Path
from typing import Iterator

from imap_tools import MailBox

from bot.mail import parse_mail
from bot.secrets import SecretRegistry

TOKEN = "act-7Hq2pX9vLw3RzT5kN8mB4cJ6"
SHARED = "ap@ssc.example"  # the sandbox's shared mailbox: every ap+<detail>@ address lands there


def artifact_blobs(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every file under `root`, and every member of every zip (one level deep), as bytes."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield str(path.relative_to(root)), data
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    yield f"{path.relative_to(root)}!{member}", archive.read(member)


def scan(root: Path, *values: str) -> list[str]:
    """Where any form (raw, URL-encoded, base64, quoted-printable, HTML, JSON) of `values` is
    under `root`: file contents, zip members and file names. Empty when clean."""
    scanner = SecretRegistry()
    for value in values:
        scanner.add(value, "secret")
    hits = []
    for name, data in artifact_blobs(root):
        hits += [f"{name}: {form}" for form in scanner.scan_bytes(data)]
        hits += [f"file name {name}" for value in values if value in name]
    return hits


def activation_links(sandbox, emails: set[str]) -> list[str]:
    """Every activation link the portal mailed to `emails` (read as a person would, over IMAPS)."""
    context = ssl.create_default_context(cafile=str(sandbox.mail.ca_file))
    with MailBox(sandbox.mail.host, sandbox.mail.imaps_port, ssl_context=context).login(
        SHARED, sandbox.mail.password
    ) as box:
        mails = [parse_mail(msg.obj.as_bytes()) for msg in box.fetch(mark_seen=False)]
    return [m.link for m in mails if m.link and any(m.addressed_to(e) for e in emails)]
