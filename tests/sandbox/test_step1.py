"""Step 1 (spec §2): the labels, each server check in its order with its exact message, the form
keeping what was typed, "This structure already exists" with its join request, and the captcha knob.
"""
from __future__ import annotations

from playwright.sync_api import Page, expect

from helpers import (BAD_CHECKSUM, BOULANGERIE, CLOSED, EXISTING, EXISTING_MANAGER, NON_DIFFUSIBLE, UNKNOWN,
                     has_account, open_english, submit_step1)

EMAIL_LABEL = "Login email"
SIRET_LABEL = "Company registration number (SIRET)"


def test_step1_shows_its_labels_with_required_marks(page: Page, portal) -> None:
    open_english(page, "/")
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account", level=1)).to_be_visible()
    for label in (EMAIL_LABEL, SIRET_LABEL):
        field = page.get_by_label(label, exact=True)  # the red * is not part of the accessible name
        expect(field).to_have_attribute("required", "")
        expect(field).to_have_attribute("aria-required", "true")
    expect(page.locator(".req")).to_have_text(["*", "*"])
    expect(page.get_by_label("Characters shown in the image")).to_have_count(0)  # captcha knob off


STEP1_ERRORS = [  # (email, SIRET, message), in the order the server checks them
    ("not-an-email", BAD_CHECKSUM, "Enter a valid email address."),  # the email is checked first
    ("jean@@supplier.example", BOULANGERIE, "Enter a valid email address."),
    ("jean@supplier.example", BAD_CHECKSUM, "The SIRET must contain 14 digits."),
    ("jean@supplier.example", "8074398720001", "The SIRET must contain 14 digits."),
    ("jean@supplier.example", "807 439 872 00019", "The SIRET must contain 14 digits."),
    ("jean@supplier.example", UNKNOWN, "This SIRET is unknown in the INSEE database."),
    ("jean@supplier.example", CLOSED, "This establishment is closed in the INSEE database."),
    (EXISTING_MANAGER, CLOSED, "This establishment is closed in the INSEE database."),  # INSEE before the email
    (EXISTING_MANAGER, BOULANGERIE, "An account already exists for this login email."),
    (EXISTING_MANAGER.upper(), BOULANGERIE, "An account already exists for this login email."),
]


def test_each_step1_error_has_its_exact_message_and_keeps_what_was_typed(page: Page, portal) -> None:
    """One visitor retrying with each mistake in turn (one page: quicker than one browser per case)."""
    open_english(page, "/account/new")
    for email, siret, message in STEP1_ERRORS:
        submit_step1(page, email, siret)
        expect(page.get_by_role("alert"), f"{email} / {siret}").to_have_text(message)
        expect(page).to_have_title("Create an account - Chorus Pro")
        expect(page.get_by_label(EMAIL_LABEL)).to_have_value(email)
        expect(page.get_by_label(SIRET_LABEL)).to_have_value(siret)
    state = portal.state()
    assert len(state["accounts"]) == 2 and state["mails"] == [] and state["join_requests"] == []  # the seed only


def test_empty_fields_are_required_beside_each_with_a_summary(page: Page, portal) -> None:
    open_english(page, "/account/new")
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("alert")).to_have_text("Some fields are missing or incorrect.")
    expect(page.locator("#field-email .field-error")).to_have_text("This field is required.")
    expect(page.locator("#field-siret .field-error")).to_have_text("This field is required.")
    expect(page.get_by_label(EMAIL_LABEL)).to_have_attribute("aria-invalid", "true")


def test_a_registered_structure_offers_to_join_it_and_creates_no_account(page: Page, portal,
                                                                          mailbox_address: str) -> None:
    open_english(page, "/account/new")
    submit_step1(page, mailbox_address, EXISTING)
    expect(page.get_by_role("heading", name="This structure already exists in Chorus Pro")).to_be_visible()
    expect(page.get_by_text("The structure 43749388500010 (Société Existante Dumont SAS) is already registered. "
                            "Its primary manager is m*****r@existing.example.")).to_be_visible()
    expect(page.get_by_text(EXISTING_MANAGER)).to_have_count(0)  # the manager's address stays masked
    page.get_by_role("button", name="Request to join this structure").click()
    expect(page.get_by_role("status")).to_have_text(
        "Your request to join this structure has been sent to its primary manager.")

    state = portal.state()
    assert [(j["email"], j["siret"]) for j in state["join_requests"]] == [(mailbox_address, EXISTING)]
    assert not has_account(state, mailbox_address) and state["mails"] == []
    page.goto("/account/structure")  # joining ends the sign-up: no step 2 for this session
    expect(page.get_by_label(SIRET_LABEL)).to_be_visible()


def test_a_structure_added_through_the_test_api_already_exists(page: Page, portal, mailbox_address: str) -> None:
    portal.add_structure(NON_DIFFUSIBLE, "direction@discret.example")
    open_english(page, "/account/new")
    submit_step1(page, mailbox_address, NON_DIFFUSIBLE)
    expect(page.get_by_text("Its primary manager is d*****n@discret.example.", exact=False)).to_be_visible()
    state = portal.state()
    assert {"siret": NON_DIFFUSIBLE, "manager_email": "direction@discret.example"}.items() <= next(
        s for s in state["structures"] if s["siret"] == NON_DIFFUSIBLE).items()
    assert state["join_requests"] == []  # nothing until the button is pressed


# --- the captcha knob ----------------------------------------------------------------------------
def test_the_captcha_knob_shows_an_image_and_checks_the_characters(page: Page, portal, mailbox_address: str) -> None:
    portal.knobs(captcha=True)
    open_english(page, "/account/new")
    image = page.get_by_role("img", name="Security image: 5 characters to copy")
    expect(image).to_be_visible()
    expect(page.get_by_label("Characters shown in the image")).to_have_attribute("aria-required", "true")
    first_text, first_src = portal.captcha(), image.get_attribute("src")
    assert len(first_text) == 5 and first_src.startswith("data:image/svg+xml;base64,")

    page.get_by_role("link", name="Another image").click()
    expect(image).not_to_have_attribute("src", first_src)
    second_text = portal.captcha()
    assert second_text != first_text

    wrong = "22222" if second_text != "22222" else "33333"
    page.get_by_label("Characters shown in the image").fill(wrong)
    submit_step1(page, mailbox_address, BOULANGERIE)
    expect(page.get_by_role("alert")).to_have_text("The characters do not match the image.")
    expect(page.get_by_label("Characters shown in the image")).to_have_value("")
    third_text = portal.captcha()  # a wrong answer gets a new image
    assert third_text != second_text

    page.get_by_label("Characters shown in the image").fill(third_text.lower())  # case does not matter
    submit_step1(page, mailbox_address, BOULANGERIE)
    expect(page.get_by_role("heading", name="Your structure")).to_be_visible()


def test_an_empty_captcha_is_a_required_field(page: Page, portal, mailbox_address: str) -> None:
    portal.knobs(captcha=True)
    open_english(page, "/account/new")
    submit_step1(page, mailbox_address, BOULANGERIE)
    expect(page.get_by_role("alert")).to_have_text("Some fields are missing or incorrect.")
    expect(page.locator("#field-captcha .field-error")).to_have_text("This field is required.")
