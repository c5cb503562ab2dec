"""The baseline: the plain script a user would write instead of chorus-bot.

One supplier after another, a fresh Chromium for each, Playwright's auto-waits, English
labels as the supplier guide shows them, and the mailbox polled every second with
imap-tools. No journal, no retry, no trace, no page objects: what `bench/targets.py`
compares the bot against. It knows only the guide's journey on the sandbox's standard
markup (the sandbox's default profile).

    .venv/bin/python bench/baseline.py SUPPLIERS.csv   # siret;email;first_name;last_name;phone
    .venv/bin/python bench/baseline.py --lean SUPPLIERS.csv

``--lean`` is about the least any script of this journey costs on Playwright and Chromium, not
what a user would write: one Chromium for every supplier (a browser context each), launched
with the bot's own switches (``bot.browser.launch_args``), and one mailbox log-in for all,
asked every 0.1 s. ``bench/targets.py`` prints its CPU per registration and its time per
supplier beside the bot's.

Settings come from the same CHORUS_* variables as the bot's (portal URL, IMAP, CA file).
Prints one line per supplier: its e-mail address, the seconds it took, activated or the error.
"""
from __future__ import annotations

import contextlib
import csv
import html
import os
import re
import secrets
import ssl
import string
import sys
import time
from pathlib import Path

from imap_tools import AND, MailBox
from playwright.sync_api import Page, expect, sync_playwright

POLL_S = 1.0
LEAN_POLL_S = 0.1
MAIL_WAIT_S = 120.0
TIMEOUT_MS = 30_000
QUESTION = "What is the name of your first pet?"
LINK = re.compile(r'<a href="([^"]+)"[^>]*>\s*Activate my account\s*</a>')


def strong_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(16)) + "a1A!"


def mailbox() -> MailBox:
    context = ssl.create_default_context(cafile=os.environ.get("CHORUS_IMAP_CA_FILE") or None)
    return MailBox(os.environ["CHORUS_IMAP_HOST"], port=int(os.environ.get("CHORUS_IMAP_PORT", "993")),
                   ssl_context=context).login(os.environ["CHORUS_IMAP_USER"], os.environ["CHORUS_IMAP_PASSWORD"])


def activation_link(email: str, since: float, box: MailBox | None = None) -> str:
    """Poll the mailbox every second until the activation mail for `email` is there (``box``,
    the lean form: that log-in, asked every 0.1 s)."""
    if box is None:
        with mailbox() as own:
            return _poll(own, email, since, POLL_S)
    return _poll(box, email, since, LEAN_POLL_S)


def _poll(box: MailBox, email: str, since: float, every_s: float) -> str:
    deadline = time.monotonic() + MAIL_WAIT_S
    while time.monotonic() < deadline:
        for mail in box.fetch(AND(to=email), mark_seen=False, reverse=True):
            if mail.date.timestamp() >= since - 60 and (match := LINK.search(mail.html)):
                return html.unescape(match.group(1))
        time.sleep(every_s)
    raise TimeoutError(f"no activation mail for {email} within {MAIL_WAIT_S:g} s")


def register(page: Page, portal: str, row: dict[str, str], box: MailBox | None = None) -> None:
    started = time.time()
    page.goto(portal)
    page.get_by_role("link", name="EN", exact=True).click()
    page.get_by_role("button", name="Accept all").click()
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Login email").fill(row["email"])
    page.get_by_label("Company registration number (SIRET)").fill(row["siret"])
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#structure-form")).to_have_attribute("data-autofill", "done", timeout=TIMEOUT_MS)
    page.get_by_label("First name").fill(row["first_name"])
    page.get_by_label("Last name").fill(row["last_name"])
    page.get_by_label("Phone number").fill(row["phone"])
    page.get_by_label("I accept the terms of use").check()
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="Open your working areas")).to_be_visible()
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="Your account is created")).to_be_visible()
    page.goto(activation_link(row["email"], started, box))
    password = strong_password()
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)
    page.get_by_label("Secret question").select_option(label=QUESTION)
    page.get_by_label("Answer").fill(secrets.token_hex(8))
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_text("Your account has been activated")).to_be_visible()


def main(path: Path, lean: bool = False) -> int:
    portal = os.environ["CHORUS_PORTAL_URL"]
    # What `chromium.launch()` runs headless after `playwright install`: the old headless shell
    # (Debian's build of it when installed, as the bot takes), else the full Chromium.
    installed = [p for p in ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium") if Path(p).exists()]
    executable = os.environ.get("CHORUS_BROWSER_PATH") or (installed[0] if installed else None)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    failed = 0
    if lean:
        from bot.browser import launch_args  # the bot's switches: no spare renderer, no omnibox...
        args = launch_args()
    else:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as pw, (mailbox() if lean else contextlib.nullcontext()) as box:
        shared = pw.chromium.launch(executable_path=executable, args=args) if lean else None
        for row in rows:
            started = time.perf_counter()
            browser = shared or pw.chromium.launch(executable_path=executable, args=args)
            context = browser.new_context()
            try:
                page = context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                register(page, portal, row, box)
                outcome = "activated"
            except Exception as exc:  # noqa: BLE001 - a plain script: print and go on
                failed += 1
                outcome = f"error: {str(exc).splitlines()[0]}"
            finally:
                context.close()
                if not shared:
                    browser.close()
            print(f"{row['email']} {time.perf_counter() - started:.2f} {outcome}", flush=True)
        if shared:
            shared.close()
    return 1 if failed else 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    lean = "--lean" in arguments
    files = [a for a in arguments if a != "--lean"]
    if len(files) != 1:
        sys.exit(__doc__)
    sys.exit(main(Path(files[0]), lean=lean))
