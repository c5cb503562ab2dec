"""Screenshots of every sandbox screen, in English, for docs/SANDBOX.md, and of a batch's report.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Starts its own sandbox (portal + Dovecot, default profile), walks the sign-up, the activation
(link read from the sandbox's Dovecot over IMAP with TLS) and the log-in in headless Chromium
as a person would, and saves one PNG per screen. Then runs a small batch against the same
sandbox (activated suppliers, one whose name INSEE spells otherwise, a SIRET already
registered, a bad row, one the portal fails twice) and saves its HTML report, opened from
disk, as ``report.png`` (README.md shows it). Prints only the files it wrote: never a link,
token, code or password. Exit 0 on success; a failure is one line on stderr and exit 1.
"""
from __future__ import annotations

import argparse
import contextlib
import re
import ssl
import sys
import tempfile
import time
from html import unescape
from pathlib import Path

import httpx
from imap_tools import AND, MailBox
from playwright.sync_api import Page, expect, sync_playwright
from rich.console import Console

from bot.batchfile import read_batch
from bot.browser import launch_options
from bot.commands.batch import _demo_settings
from bot.flows.batch import run_batch
from bot.report_html import HTML_REPORT
from bot.runtemp import run_temp_dir
from bot.settings import load_settings
from bot.tracing import run_dir
from fixtures.portal.server import Sandbox

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 860}
EMAIL = "camille.dupre@boulangerie-dupre.example"  # its own mailbox in the sandbox's Dovecot
SIRET = "80743987200019"  # Boulangerie Dupré SARL (fixtures/insee/CATALOGUE.md)
EXISTING = "43749388500010"  # registered in the seed data
BAD_SIRET = "15543407900011"
PASSWORD = "Tulipe-Verte-2024!"  # sandbox-only demo password, never printed
MAIL_TIMEOUT_S = 30.0
ANCHOR = re.compile(r'<a href="([^"]+)"[^>]*>Activate my account</a>')
TOKEN = re.compile(r"token=[^\s&\"']+")

# File names, in the order of the journey (tests/sandbox/test_screenshots.py checks the same list).
SCREENS = (
    "01-home-cookie-banner", "02-step1-account", "03-step1-error", "04-structure-exists",
    "05-step2-autofill-spinner", "06-step2-structure", "07-step3-work-areas", "08-step4-created",
    "09-activation-expired-link", "10-activation-invalid-link", "11-activation", "12-activated",
    "13-login", "14-login-verification-code", "15-workspace", "16-maintenance",
)
REPORT = "report"  # the HTML report of a batch, written after the screens

# The report's batch (fixtures/insee/CATALOGUE.md): the first supplier meets two HTTP 500 (it
# runs first, one at a time, 2 attempts), the second's company name differs from INSEE's, the
# fourth is registered already, the last row has a bad e-mail address.
REPORT_BATCH = """siret;email;first_name;last_name;phone;company_name;city
289 674 517 00015;ap+report-1@ssc.example;Hélène;Garnier;04 72 00 00 01;;
77622345500010;ap+report-2@ssc.example;Jérôme;Moreau;04 72 00 00 02;Moreau Conseil;
93178428400016;ap+report-3@ssc.example;Anaïs;Bernard;04 72 00 00 03;Électricité Bernard SARL;
43749388500010;ap+report-4@ssc.example;Loïc;Petit;04 72 00 00 04;;
31450599100013;ap+report-5(at)ssc.example;Gaëlle;Rousseau;04 72 00 00 05;Imprimerie Rousseau SA;
"""


class Walk:
    """One English visitor in one browser page, and the sandbox's test API beside it."""

    def __init__(self, page: Page, sandbox: Sandbox, out: Path) -> None:
        self.page, self.sandbox, self.out = page, sandbox, out
        self.api = httpx.Client(base_url=sandbox.url, timeout=10)
        self.saved: list[Path] = []

    def shot(self, name: str, full_page: bool = True) -> None:
        assert name in SCREENS, name
        path = self.out / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        self.saved.append(path)
        print(path)

    def knobs(self, **values: object) -> None:
        self.api.post("/_sandbox/knobs", json=values).raise_for_status()

    def validate(self) -> None:
        self.page.get_by_role("button", name="Validate").click()

    def step1(self, email: str, siret: str) -> None:
        self.page.get_by_label("Login email").fill(email)
        self.page.get_by_label("Company registration number (SIRET)").fill(siret)
        self.validate()

    def activation_links(self, count: int) -> list[str]:
        """The activation links mailed to EMAIL, oldest first, once `count` mails are there (IMAP, TLS)."""
        mail = self.sandbox.mail
        context = ssl.create_default_context(cafile=str(mail.ca_file))
        deadline = time.monotonic() + MAIL_TIMEOUT_S
        with MailBox(mail.host, port=mail.imaps_port, ssl_context=context).login(EMAIL, mail.password) as box:
            while time.monotonic() < deadline:
                links = [unescape(m.group(1)) for msg in box.fetch(AND(to=EMAIL), mark_seen=False)
                         if (m := ANCHOR.search(msg.html))]
                if len(links) >= count:
                    return links
                box.idle.wait(timeout=1.0)
        raise RuntimeError(f"the activation mail did not reach the sandbox's mailbox within {MAIL_TIMEOUT_S:.0f}s")

    def run(self) -> None:
        page = self.page
        page.goto("/?lang=en")
        expect(page.get_by_role("dialog", name="Cookie management")).to_be_visible()
        self.shot("01-home-cookie-banner", full_page=False)  # the banner is fixed to the window
        page.get_by_role("button", name="Accept all").click()

        page.get_by_role("link", name="Create an account").click()
        expect(page.get_by_label("Login email")).to_be_visible()
        self.shot("02-step1-account")
        self.step1(EMAIL, BAD_SIRET)
        expect(page.get_by_role("alert")).to_have_text("The SIRET must contain 14 digits.")
        self.shot("03-step1-error")
        self.step1(EMAIL, EXISTING)
        expect(page.get_by_role("heading", name="This structure already exists in Chorus Pro")).to_be_visible()
        self.shot("04-structure-exists")

        self.knobs(autofill_delay_ms=4000)  # long enough to catch the spinner on the picture
        page.goto("/account/new")
        self.step1(EMAIL, SIRET)
        expect(page.locator("#autofill-spinner")).to_be_visible()
        self.shot("05-step2-autofill-spinner")
        expect(page.locator("#autofill-spinner")).to_have_count(0, timeout=10_000)
        page.get_by_label("First name").fill("Camille")
        page.get_by_label("Last name").fill("Dupré")
        page.get_by_label("Phone number").fill("+33 4 72 00 00 00")
        page.get_by_label("Job title").fill("Manager")
        page.get_by_label("I accept the terms of use").check()
        self.shot("06-step2-structure")
        self.validate()
        expect(page.get_by_role("heading", name="Open your working areas")).to_be_visible()
        page.get_by_role("switch", name="Received invoices").click()
        self.shot("07-step3-work-areas")
        self.validate()
        expect(page.get_by_role("heading", name="Your account is created")).to_be_visible()
        self.shot("08-step4-created")

        (first,) = self.activation_links(1)
        self.knobs(token_ttl_s=0.001)  # the link is older than that: expired
        page.goto(first)
        expect(page.get_by_role("button", name="Send a new activation email")).to_be_visible()
        self.shot("09-activation-expired-link")
        page.get_by_role("button", name="Send a new activation email").click()
        expect(page.get_by_role("status")).to_be_visible()
        self.knobs(token_ttl_s=3600)
        page.goto(first)  # superseded by the new mail
        expect(page.get_by_role("alert")).to_have_text("This activation link is not valid.")
        self.shot("10-activation-invalid-link")

        page.goto(self.activation_links(2)[-1])
        expect(page.get_by_role("heading", name="Activate your user account")).to_be_visible()
        self.shot("11-activation")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Confirm password").fill(PASSWORD)
        page.get_by_label("Secret question").select_option(label="In which city were you born?")
        page.get_by_label("Answer").fill("Lyon")
        self.validate()
        expect(page.get_by_role("status")).to_be_visible()
        self.shot("12-activated")

        self.knobs(otp=True)
        page.get_by_role("link", name="Log in").click()
        page.get_by_label("Login email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        self.shot("13-login")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_label("Verification code")).to_be_visible()
        self.shot("14-login-verification-code")
        code = self.api.get("/_sandbox/otp", params={"email": EMAIL}).json()["code"]
        page.get_by_label("Verification code").fill(code)
        self.validate()
        expect(page.get_by_role("tab").first).to_be_visible()
        self.shot("15-workspace")

        self.knobs(maintenance=True)
        page.goto("/")
        self.shot("16-maintenance")
        self.knobs(maintenance=False)


def report_screenshot(sandbox: Sandbox, out: Path) -> Path:
    """Run REPORT_BATCH with the bot against the sandbox and photograph its HTML report."""
    api = httpx.Client(base_url=sandbox.url, timeout=10)
    try:
        api.post("/_sandbox/reset").raise_for_status()
        api.post("/_sandbox/knobs", json={"fail_next": {"/account/new": 2}}).raise_for_status()
    finally:
        api.close()
    with tempfile.TemporaryDirectory(prefix="chorus-report-") as work:
        folder = Path(work)
        (folder / "suppliers.csv").write_text(REPORT_BATCH, encoding="utf-8")
        batch = read_batch(folder / "suppliers.csv")
        settings = _demo_settings(sandbox.env, folder).model_copy(
            update={"concurrency": 1, "max_attempts": 2, "retry_backoff_s": 0.0, "imap_poll_s": 1.0}
        )
        # Its progress and summary go to stderr: stdout names only the files written.
        with run_temp_dir(), contextlib.redirect_stdout(sys.stderr):
            run = run_batch(settings, batch.suppliers, row_errors=batch.errors, console=Console(stderr=True))
        report = run_dir(settings, run.run_id) / HTML_REPORT
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(**launch_options(load_settings(_env_file=None), headless=True))
            try:
                context = browser.new_context(viewport=VIEWPORT, offline=True)
                page = context.new_page()
                page.goto(report.as_uri())
                failure = page.locator("#suppliers tr[data-status='failed'] details").first
                failure.locator("summary").click()
                expect(failure.locator("img.screenshot")).to_be_visible()
                path = out / f"{REPORT}.png"
                page.screenshot(path=str(path), full_page=True, animations="disabled")
            finally:
                browser.close()
    print(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of the PNG files (created)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with Sandbox() as sandbox:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(**launch_options(load_settings(_env_file=None), headless=True))
                context = browser.new_context(base_url=sandbox.url, viewport=VIEWPORT, locale="en-GB")
                walk = Walk(context.new_page(), sandbox, args.out)
                try:
                    walk.run()
                finally:
                    walk.api.close()
                    browser.close()
            report_screenshot(sandbox, args.out)  # its batch drives Chromium from threads of its own
    except Exception as exc:  # noqa: BLE001 - one line for the terminal, no stack, no secret
        first_line = (str(exc).splitlines() or [""])[0]
        print(f"error: screenshots failed: {type(exc).__name__}: {TOKEN.sub('token=********', first_line)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
