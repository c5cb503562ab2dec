"""Step 2 (spec §3): the spinner over the form while INSEE answers, the autofilled and editable
fields, "This field is required." beside each missing one, the "+" of the Option box, and a
non-diffusible SIRET that only validates with "INSEE not diffusible" ticked.
"""
from __future__ import annotations

from playwright.sync_api import Page, expect

from helpers import (BOULANGERIE, NETTOYAGE, NON_DIFFUSIBLE, Person, account_of, fill_person, open_english, press,
                     submit_step1, to_step2)

REQUIRED = "This field is required."


def test_a_spinner_covers_the_form_while_the_autofill_runs(page: Page, portal, mailbox_address: str) -> None:
    portal.knobs(autofill_delay_ms=1500)
    open_english(page, "/account/new")
    submit_step1(page, mailbox_address, BOULANGERIE)

    spinner = page.get_by_role("status").filter(has_text="Retrieving your company's data from INSEE…")
    company = page.get_by_label("Company name")
    expect(spinner).to_be_visible()
    expect(company).to_have_value("")
    expect(company).to_be_disabled()  # nothing can be typed under the spinner
    expect(page.get_by_role("button", name="Validate")).to_be_disabled()

    expect(spinner).to_be_hidden(timeout=5000)
    expect(company).to_be_enabled()
    expect(company).to_have_value("Boulangerie Dupré SARL")
    expect(page.get_by_label("Address", exact=True)).to_have_value("12 RUE DES LILAS")
    expect(page.get_by_label("Address complement")).to_have_value("")
    expect(page.get_by_label("Postal code")).to_have_value("69003")
    expect(page.get_by_label("City")).to_have_value("LYON")
    expect(page.get_by_label("Country")).to_have_value("FR")
    expect(page.get_by_label("Country").locator("option:checked")).to_have_text("France")
    expect(page.get_by_label("Identifier type")).to_be_disabled()
    expect(page.get_by_label("Identifier type")).to_have_value("SIRET")
    expect(page.get_by_label("Identifier", exact=True)).to_have_value(BOULANGERIE)
    expect(page.get_by_label("Identifier", exact=True)).not_to_be_editable()
    expect(page.get_by_label("Login email address")).to_have_value(mailbox_address)
    expect(page.get_by_label("Login email address")).not_to_be_editable()
    autofill_hits = [h for h in portal.state()["hits"] if h["path"] == "/account/structure/insee"]
    assert len(autofill_hits) == 1 and autofill_hits[0]["duration_ms"] >= 1400


def test_missing_required_fields_are_flagged_beside_each_and_typed_values_kept(page: Page, portal,
                                                                                mailbox_address: str) -> None:
    to_step2(page, mailbox_address)
    for label in ("Company name", "Address", "Postal code", "City", "Country", "First name", "Last name",
                  "Phone number", "I accept the terms of use"):
        expect(page.get_by_label(label, exact=True)).to_have_attribute("aria-required", "true")
    for label in ("Address complement", "Job title"):
        expect(page.get_by_label(label, exact=True)).not_to_have_attribute("aria-required", "true")
    page.get_by_label("Company name").fill("")
    page.get_by_label("City").fill("")
    page.get_by_label("Job title").fill("Gérante")
    press(page)

    expect(page.get_by_role("alert")).to_have_text("Some fields are missing or incorrect.")
    for name in ("company_name", "city", "first_name", "last_name", "phone", "terms"):
        expect(page.locator(f"#field-{name} .field-error"), name).to_have_text(REQUIRED)
    expect(page.locator(".field-error")).to_have_count(6)
    expect(page.get_by_label("Job title")).to_have_value("Gérante")
    expect(page.get_by_label("Address", exact=True)).to_have_value("12 RUE DES LILAS")
    expect(page.get_by_label("Identifier", exact=True)).to_have_value(BOULANGERIE)
    assert portal.state()["mails"] == []


def test_autofilled_fields_stay_editable_and_the_option_box_adds_a_notification_email(
        page: Page, portal, mailbox_address: str) -> None:
    to_step2(page, mailbox_address, NETTOYAGE)
    expect(page.get_by_label("Address complement")).to_have_value("BATIMENT B")
    add = page.get_by_role("button", name="Add a notification email")
    notification = page.get_by_label("Notification email address")
    expect(add).to_have_attribute("aria-expanded", "false")
    expect(notification).to_be_hidden()
    add.click()
    expect(add).to_have_attribute("aria-expanded", "true")
    expect(notification).to_be_focused()
    notification.fill("compta@nettoyage.example")
    page.get_by_label("Company name").fill("Nettoyage Pro Services SAS")
    page.get_by_label("Address complement").fill("BATIMENT C")
    fill_person(page, Person(first_name="Ahmed", last_name="Benali"))
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="Open your working areas")).to_be_visible()
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="Your account is created")).to_be_visible()

    account = account_of(portal.state(), mailbox_address)
    assert {k: account[k] for k in ("siret", "company_name", "address", "address_complement", "postal_code",
                                    "city", "country", "notification_email", "first_name", "last_name",
                                    "phone", "job_title", "non_diffusible")} == {
        "siret": NETTOYAGE, "company_name": "Nettoyage Pro Services SAS", "address": "101 AVENUE DE LA REPUBLIQUE",
        "address_complement": "BATIMENT C", "postal_code": "75011", "city": "PARIS", "country": "FR",
        "notification_email": "compta@nettoyage.example", "first_name": "Ahmed", "last_name": "Benali",
        "phone": "+33 4 72 00 00 00", "job_title": "Gérante", "non_diffusible": False}


def test_a_non_diffusible_siret_only_validates_with_the_box_ticked(page: Page, portal, mailbox_address: str) -> None:
    to_step2(page, mailbox_address, NON_DIFFUSIBLE)
    expect(page.get_by_label("Company name")).to_have_value("Conseil Discret Laurent SAS")
    for label in ("Address", "Postal code", "City", "Country"):
        expect(page.get_by_label(label, exact=True), label).to_have_value("")
    box = page.get_by_label("INSEE not diffusible")
    expect(box).not_to_be_checked()
    fill_person(page)
    press(page)
    expect(page.get_by_role("alert").locator("p")).to_have_text([
        "Some fields are missing or incorrect.",
        "This establishment is not diffusible in the INSEE database: tick “INSEE not diffusible”."])
    for name in ("address", "postal_code", "city", "country"):
        expect(page.locator(f"#field-{name} .field-error"), name).to_have_text(REQUIRED)

    expect(page.get_by_label("I accept the terms of use")).to_be_checked()  # the form keeps it
    page.get_by_label("Address", exact=True).fill("1 RUE INVENTEE")  # a made-up address is not enough
    page.get_by_label("Postal code").fill("75001")
    page.get_by_label("City").fill("PARIS")
    page.get_by_label("Country").select_option("FR")
    press(page)
    expect(page.get_by_role("alert")).to_have_text(
        "This establishment is not diffusible in the INSEE database: tick “INSEE not diffusible”.")

    page.get_by_label("INSEE not diffusible").check()
    for label in ("Address", "Postal code", "City", "Country"):  # masked, no longer required
        expect(page.get_by_label(label, exact=True), label).to_be_hidden()
    expect(page.locator("#postal_code")).to_have_attribute("aria-required", "false")
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="Open your working areas")).to_be_visible()
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="Your account is created")).to_be_visible()

    account = account_of(portal.state(), mailbox_address)
    assert account["non_diffusible"] is True
    assert (account["address"], account["postal_code"], account["city"], account["country"]) == ("", "", "", "")


def test_step2_carries_the_cea_link_of_the_trap(page: Page, portal, mailbox_address: str) -> None:
    to_step2(page, mailbox_address)
    expect(page.get_by_role("link", name="Log in to the CEA account")).to_have_attribute("href", "/cea/login")
    expect(page.locator("ol.steps [aria-current=step]")).to_have_text("2 Structure")


def test_a_form_error_after_autofill_does_not_run_the_autofill_again(page: Page, portal,
                                                                      mailbox_address: str) -> None:
    open_english(page, "/account/new")
    submit_step1(page, mailbox_address, BOULANGERIE)
    expect(page.locator("#structure-form")).to_have_attribute("data-autofill", "done")
    page.get_by_label("Company name").fill("Boulangerie Dupré & Fils")
    press(page)
    expect(page.get_by_role("alert")).to_have_text("Some fields are missing or incorrect.")
    expect(page.get_by_label("Company name")).to_have_value("Boulangerie Dupré & Fils")
    expect(page.locator("#autofill-spinner")).to_have_count(0)
