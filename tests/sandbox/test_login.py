"""Log in (spec §7): the workspace's tabs, the one-time code knob with the code read from the
mailbox, the lock after 5 wrong passwords, and pages that need a log-in.
"""
from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from helpers import (PASSWORD, SUBJECT_OTP, account_of, activate, activation_link, create_account, log_in,
                     mails_to, press, read_mails, to_step3)

LOCKED = "Your account is locked for one hour."
WRONG = "Incorrect login email or password."


def _active_account(page: Page, sandbox, email: str) -> None:
    create_account(page, email)
    activate(page, activation_link(sandbox, email))


def test_the_one_time_code_knob_asks_for_the_mailed_code_then_shows_the_workspace(page: Page, portal, sandbox,
                                                                                  mailbox_address: str) -> None:
    to_step3(page, mailbox_address)
    page.get_by_role("switch", name="Commitments").click()
    page.get_by_role("button", name="Validate").click()
    activate(page, activation_link(sandbox, mailbox_address))
    portal.knobs(otp=True)

    page.get_by_role("link", name="Chorus Pro", exact=True).click()
    log_in(page, mailbox_address)
    expect(page).to_have_url(f"{sandbox.url}/login/verify")
    expect(page.get_by_text("A verification code has been sent to your email address.")).to_be_visible()
    code_field = page.get_by_label("Verification code")
    expect(code_field).to_have_attribute("aria-required", "true")
    otp_mails = [m for m in read_mails(sandbox, mailbox_address, count=2) if m.subject == SUBJECT_OTP]
    assert len(otp_mails) == 1
    code = re.search(r"\b(\d{6})\b", otp_mails[0].text).group(1)
    assert code == portal.otp(mailbox_address)
    assert not re.search(rf"(?<!\d){code}(?!\d)", json.dumps(portal.state()))  # the test API never shows it
    assert [m["kind"] for m in mails_to(portal.state(), mailbox_address)] == ["activation", "otp"]

    code_field.fill("000000" if code != "000000" else "111111")
    press(page)
    expect(page.get_by_role("alert")).to_have_text("The verification code is not valid.")
    page.get_by_label("Verification code").fill(code)
    page.get_by_role("button", name="Validate").click()

    expect(page).to_have_url(f"{sandbox.url}/workspace")
    expect(page.get_by_role("heading", name="Your workspace")).to_be_visible()
    expect(page.get_by_text("Welcome, Camille Dupré — Boulangerie Dupré SARL")).to_be_visible()
    tabs = page.get_by_role("tablist", name="Your work areas").get_by_role("tab")
    expect(tabs).to_have_text(["Sent requests", "Issued invoices", "Manager activities", "Commitments"])
    expect(tabs.first).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel")).to_have_text("No document yet.")
    tabs.last.click()  # a tab list a person can use: the clicked tab becomes the selected one
    expect(tabs.last).to_have_attribute("aria-selected", "true")
    expect(tabs.first).to_have_attribute("aria-selected", "false")
    expect(page.get_by_role("tabpanel")).to_have_accessible_name("Commitments")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Welcome to Chorus Pro")).to_be_visible()
    page.goto("/workspace")
    expect(page).to_have_url(f"{sandbox.url}/login")


def _wrong_passwords(page: Page, email: str, count: int) -> None:
    for attempt in range(count):
        page.get_by_label("Login email").fill(email)
        page.get_by_label("Password").fill(f"Wrong-Password-{attempt}!")
        press(page, "Log in")


def test_five_wrong_passwords_in_a_row_lock_the_account_for_one_hour(page: Page, portal, sandbox,
                                                                     mailbox_address: str) -> None:
    _active_account(page, sandbox, mailbox_address)
    page.goto("/login")
    _wrong_passwords(page, mailbox_address, 4)
    expect(page.get_by_role("alert")).to_have_text(WRONG)
    expect(page.get_by_label("Login email")).to_have_value(mailbox_address)
    assert account_of(portal.state(), mailbox_address)["failed_logins"] == 4
    log_in(page, mailbox_address)  # the right password resets the count
    expect(page.get_by_role("heading", name="Your workspace")).to_be_visible()
    assert (account_of(portal.state(), mailbox_address)["failed_logins"]) == 0
    page.get_by_role("button", name="Log out").click()

    page.goto("/login")
    _wrong_passwords(page, mailbox_address, 4)
    assert account_of(portal.state(), mailbox_address)["locked"] is False
    _wrong_passwords(page, mailbox_address, 1)
    expect(page.get_by_role("alert")).to_have_text(LOCKED)
    assert account_of(portal.state(), mailbox_address)["locked"] is True
    page.get_by_label("Password").fill(PASSWORD)  # even the right password is refused now
    press(page, "Log in")
    expect(page.get_by_role("alert")).to_have_text(LOCKED)
    expect(page).to_have_url(f"{sandbox.url}/login")


def test_a_pending_account_and_pages_behind_the_log_in(page: Page, portal, sandbox, mailbox_address: str) -> None:
    create_account(page, mailbox_address)
    page.goto("/login")
    log_in(page, mailbox_address)
    expect(page.get_by_role("alert")).to_have_text(
        "Your account is not activated yet: use the link of the activation email.")
    log_in(page, "nobody@supplier.example")
    expect(page.get_by_role("alert")).to_have_text(WRONG)
    page.goto("/login/verify")  # no password checked yet
    expect(page).to_have_url(f"{sandbox.url}/login")
    page.goto("/workspace")
    expect(page).to_have_url(f"{sandbox.url}/login")
