"""Step 3 (spec §4) and step 4 (§5): the work-area switches, locked and default ones, what the
account gets, and the confirmation texts.
"""
from __future__ import annotations

from playwright.sync_api import Page, expect

from helpers import SUBJECT_EN, account_of, mails_to, to_step3

AREAS = ["Sent requests", "Issued invoices", "Manager activities", "Work invoices", "Commitments",
         "Received invoices"]
DEFAULT_ON = {"Sent requests", "Issued invoices", "Manager activities"}
LOCKED = {"Sent requests", "Manager activities"}


def test_switches_start_as_the_spec_says_and_locked_ones_cannot_change(page: Page, portal,
                                                                        mailbox_address: str) -> None:
    to_step3(page, mailbox_address)
    expect(page.get_by_role("switch")).to_have_count(len(AREAS))
    for name in AREAS:
        switch = page.get_by_role("switch", name=name, exact=True)
        expect(switch, name).to_have_attribute("aria-checked", "true" if name in DEFAULT_ON else "false")
        if name in LOCKED:
            expect(switch, name).to_be_disabled()
            expect(switch, name).to_have_attribute("aria-disabled", "true")
        else:
            expect(switch, name).to_be_enabled()
    expect(page.locator(".area-name")).to_have_text(AREAS)
    expect(page.locator(".locked-hint")).to_have_text(["(always open)", "(always open)"])
    sent = page.get_by_role("switch", name="Sent requests")
    sent.click(force=True)  # a forced click on a locked switch changes nothing
    expect(sent).to_have_attribute("aria-checked", "true")


def test_the_chosen_areas_are_the_new_accounts_areas(page: Page, portal, mailbox_address: str) -> None:
    to_step3(page, mailbox_address)
    for name in ("Issued invoices", "Work invoices", "Received invoices"):
        page.get_by_role("switch", name=name).click()
    page.get_by_role("switch", name="Work invoices").click()  # changed my mind
    expect(page.get_by_role("switch", name="Issued invoices")).to_have_attribute("aria-checked", "false")
    expect(page.get_by_role("switch", name="Work invoices")).to_have_attribute("aria-checked", "false")
    expect(page.get_by_role("switch", name="Received invoices")).to_have_attribute("aria-checked", "true")
    page.get_by_role("button", name="Validate").click()

    expect(page.get_by_role("heading", name="Your account is created")).to_be_visible()
    expect(page.locator("#created-mail")).to_have_text(
        f"An activation email has been sent to {mailbox_address}. It has a limited validity.")
    expect(page.locator("#created-primary")).to_have_text(
        "You are the first one to create your company within Chorus Pro: you are the primary manager.")
    expect(page.locator("ol.steps [aria-current=step]")).to_have_text("4 Confirmation")

    state = portal.state()
    account = account_of(state, mailbox_address)
    assert account["areas"] == ["Sent requests", "Manager activities", "Received invoices"]
    assert (account["status"], account["primary_manager"], account["siret"]) == ("pending", True, "80743987200019")
    assert [(m["kind"], m["subject"]) for m in mails_to(state, mailbox_address)] == [("activation", SUBJECT_EN)]
    structure = next(s for s in state["structures"] if s["siret"] == "80743987200019")
    assert (structure["name"], structure["manager_email"]) == ("Boulangerie Dupré SARL", mailbox_address)


def test_the_back_button_after_creation_does_not_create_a_second_account(page: Page, portal,
                                                                          mailbox_address: str) -> None:
    to_step3(page, mailbox_address)
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="Your account is created")).to_be_visible()
    page.go_back()
    expect(page.get_by_label("Login email")).to_be_visible()  # the finished sign-up sends back to step 1
    state = portal.state()
    assert len([a for a in state["accounts"] if a["email"] == mailbox_address]) == 1
    assert len(mails_to(state, mailbox_address)) == 1


def test_a_structure_registered_meanwhile_is_offered_to_join_at_validation(page: Page, portal,
                                                                           mailbox_address: str) -> None:
    to_step3(page, mailbox_address)
    portal.add_structure("80743987200019", "patron@boulangerie.example")  # someone was quicker
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="This structure already exists in Chorus Pro")).to_be_visible()
    expect(page.get_by_text("Its primary manager is p*****n@boulangerie.example.", exact=False)).to_be_visible()
    state = portal.state()
    assert not any(a["email"] == mailbox_address for a in state["accounts"]) and state["mails"] == []
