"""Smoke tests of the sandbox portal in real Chromium: the 4-step sign-up and two step-1 errors.

The full sandbox suite lives beside this file; these few checks say quickly whether the
portal (fixtures/portal) still walks the journey of the supplier guide end to end.
"""
from __future__ import annotations

import re
import ssl
import time

import pytest
from imap_tools import AND, MailBox
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

BOULANGERIE = "80743987200019"  # fixtures/insee/CATALOGUE.md: active, diffusible
UNKNOWN = "15543407900010"  # Luhn-valid, no INSEE file
BAD_CHECKSUM = "15543407900011"
REGISTERED = "43749388500010"  # seed data: primary manager manager@existing.example


def _english_with_consent(page: Page, path: str = "/") -> None:
    page.goto(path)
    page.get_by_role("link", name="EN", exact=True).click()
    page.get_by_role("button", name="Accept all").click()
    expect(page.locator("#cookie-banner")).to_have_count(0)


def _activation_mail(sandbox, address: str, timeout_s: float = 15.0):
    """The activation mail as the shared mailbox holds it (polls IMAP, bounded)."""
    deadline = time.monotonic() + timeout_s
    with MailBox(sandbox.mail.host, port=sandbox.mail.imaps_port,
                 ssl_context=ssl.create_default_context(cafile=str(sandbox.mail.ca_file))).login("ap@ssc.example", sandbox.mail.password) as box:
        while time.monotonic() < deadline:
            found = list(box.fetch(AND(to=address), mark_seen=False))
            if found:
                return found[0]
            time.sleep(0.2)  # mail polling interval, not a page wait
    pytest.fail(f"no mail for {address} within {timeout_s}s")


def test_sign_up_journey_creates_pending_account_and_sends_mail(page: Page, portal, sandbox,
                                                                mailbox_address: str) -> None:
    portal.knobs(autofill_delay_ms=800)
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("link", name="Créer un compte")).to_be_visible()
    with pytest.raises(PlaywrightError):  # the consent banner covers the page until answered
        page.get_by_role("link", name="Créer un compte").click(timeout=1000, trial=True)
    page.get_by_role("link", name="EN", exact=True).click()
    page.get_by_role("button", name="Accept all").click()
    page.get_by_role("link", name="Create an account").click()

    page.get_by_label("Login email").fill(mailbox_address)
    page.get_by_label("Company registration number (SIRET)").fill(BOULANGERIE)
    page.get_by_role("button", name="Validate").click()

    spinner = page.locator("#autofill-spinner")
    expect(spinner).to_be_visible()
    expect(page.get_by_label("Company name")).to_have_value("Boulangerie Dupré SARL")
    expect(spinner).to_be_hidden()
    expect(page.get_by_label("Postal code")).to_have_value("69003")
    expect(page.get_by_label("City")).to_have_value("LYON")
    expect(page.get_by_label("Login email address")).to_have_value(mailbox_address)
    page.get_by_label("First name").fill("Camille")
    page.get_by_label("Last name").fill("Dupré")
    page.get_by_label("Phone number").fill("+33 4 72 00 00 00")
    page.get_by_label("I accept the terms of use").check()
    page.get_by_role("button", name="Validate").click()

    expect(page.get_by_role("heading", name="Open your working areas")).to_be_visible()
    sent = page.get_by_role("switch", name="Sent requests")
    expect(sent).to_have_attribute("aria-checked", "true")
    expect(sent).to_be_disabled()
    commitments = page.get_by_role("switch", name="Commitments")
    expect(commitments).to_have_attribute("aria-checked", "false")
    commitments.click()
    expect(commitments).to_have_attribute("aria-checked", "true")
    page.get_by_role("button", name="Validate").click()

    expect(page.get_by_role("heading", name="Your account is created")).to_be_visible()
    expect(page.get_by_text(f"An activation email has been sent to {mailbox_address}. "
                            "It has a limited validity.")).to_be_visible()
    expect(page.get_by_text("You are the first one to create your company within Chorus Pro: "
                            "you are the primary manager.")).to_be_visible()

    state = portal.state()
    account = next(a for a in state["accounts"] if a["email"] == mailbox_address)
    assert account["status"] == "pending"
    assert account["primary_manager"] is True
    assert account["areas"] == ["Sent requests", "Issued invoices", "Manager activities", "Commitments"]
    mails = [m for m in state["mails"] if m["to"] == mailbox_address]
    assert [(m["kind"], m["subject"]) for m in mails] == [("activation", "Chorus Pro - Activate your account")]

    mail = _activation_mail(sandbox, mailbox_address)
    assert mail.from_ == "choruspro.notification.aife@finances.gouv.fr"
    link = re.search(r'<a href="([^"]+)"[^>]*>Activate my account</a>', mail.html).group(1)
    assert link.startswith(f"{sandbox.url}/account/activate?token=") and len(link) > 76
    raw = mail.obj.as_string()
    assert "Content-Transfer-Encoding: quoted-printable" in raw
    assert re.search(r'href=3D"http[^"]*=\r?\n', raw), "the link should be folded by a QP soft line break"


def test_step1_errors_and_existing_structure(page: Page, portal) -> None:
    _english_with_consent(page, "/account/new")
    page.get_by_label("Login email").fill("someone@supplier.example")
    page.get_by_label("Company registration number (SIRET)").fill(BAD_CHECKSUM)
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("alert")).to_have_text("The SIRET must contain 14 digits.")
    expect(page.get_by_label("Login email")).to_have_value("someone@supplier.example")

    page.get_by_label("Company registration number (SIRET)").fill(UNKNOWN)
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("alert")).to_have_text("This SIRET is unknown in the INSEE database.")
    assert not any(a["email"] == "someone@supplier.example" for a in portal.state()["accounts"])

    page.get_by_label("Company registration number (SIRET)").fill(REGISTERED)
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="This structure already exists in Chorus Pro")).to_be_visible()
    expect(page.get_by_text("m*****r@existing.example")).to_be_visible()
    page.get_by_role("button", name="Request to join this structure").click()
    expect(page.get_by_text("Your request to join this structure has been sent to its primary manager.")).to_be_visible()
    state = portal.state()
    assert [(j["email"], j["siret"]) for j in state["join_requests"]] == [("someone@supplier.example", REGISTERED)]
    assert not any(a["email"] == "someone@supplier.example" for a in state["accounts"])
