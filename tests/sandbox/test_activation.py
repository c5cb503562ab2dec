"""Activation (spec §6 and "Mail"): the link read from Dovecot over IMAP, the password rules,
expired, reused, unknown and superseded tokens, and what the test API shows after each.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from helpers import (ANSWER, MAIL_FROM, PASSWORD, QUESTION, SUBJECT_EN, account_of, activate, activation_link,
                     create_account, log_in, press, mails_to, open_english, read_mails)

QUESTIONS = ["What is the name of your first pet?", "What is your mother's maiden name?",
             "In which city were you born?", "What was the name of your first school?",
             "What is your favourite book?"]
RULES = ("The password must contain 12 to 64 characters, with an uppercase letter, a lowercase letter, a digit "
         "and one of the special characters !@#$%^&*()-_=+?. It must not contain the local part of your login "
         "email.")
INVALID = "This activation link is not valid."
EXPIRED = "This activation link has expired."


def test_happy_path_through_activation_with_the_link_from_dovecot(page: Page, portal, sandbox,
                                                                   mailbox_address: str) -> None:
    create_account(page, mailbox_address)
    account = account_of(portal.state(), mailbox_address)
    assert (account["status"], account["activated_at"]) == ("pending", None)

    (mail,) = read_mails(sandbox, mailbox_address)
    assert (mail.from_, mail.subject, mail.content_type) == (MAIL_FROM, SUBJECT_EN, "multipart/alternative")
    link = mail.link("Activate my account")
    assert link in mail.text  # the text part carries the same link
    assert "click on the link below within 60 minutes" in mail.text  # the default lifetime: 60 minutes
    assert link not in mail.source and "=\n" in mail.source  # quoted-printable, the long link folded
    assert urlsplit(link)._replace(query="").geturl() == f"{sandbox.url}/account/activate"
    token = link.partition("token=")[2]
    assert len(token) >= 32 and token not in json.dumps(portal.state())  # the test API never shows it
    (sent,) = mails_to(portal.state(), mailbox_address)
    assert (sent["kind"], sent["subject"], sent["token_id"]) == ("activation", SUBJECT_EN, "tok-1")
    assert sent["delivered_at"] is not None

    page.goto(link)
    expect(page.get_by_role("heading", name="Activate your user account")).to_be_visible()
    expect(page.locator("#password-rules")).to_have_text(RULES)
    for label in ("Password", "Confirm password", "Secret question", "Answer"):
        expect(page.get_by_label(label, exact=True)).to_have_attribute("aria-required", "true")
    options = page.get_by_label("Secret question").locator("option")
    expect(options).to_have_text(["Select", *QUESTIONS])
    activate(page, link)

    state = portal.state()
    account = account_of(state, mailbox_address)
    assert (account["status"], account["secret_question"]) == ("active", QUESTION)
    assert account["activated_at"] is not None
    assert PASSWORD not in json.dumps(state) and ANSWER not in json.dumps(state)

    page.get_by_role("link", name="Log in").click()
    log_in(page, mailbox_address)
    expect(page).to_have_url(f"{sandbox.url}/workspace")
    expect(page.get_by_role("tab")).to_have_text(["Sent requests", "Issued invoices", "Manager activities"])


def test_password_rules_and_answer_length_are_checked_with_the_exact_messages(page: Page, portal, sandbox,
                                                                               mailbox_address: str) -> None:
    create_account(page, mailbox_address)
    page.goto(activation_link(sandbox, mailbox_address))
    alert = page.get_by_role("alert")

    page.get_by_role("button", name="Validate").click()
    expect(alert).to_have_text("Some fields are missing or incorrect.")
    expect(page.locator(".field-error")).to_have_text(["This field is required."] * 4)

    local_part = mailbox_address.partition("@")[0]
    cases = [  # (password, confirmation, answer, messages)
        ("Short-1a", "Short-1a", ANSWER, ["The password does not meet the complexity rules."]),
        ("NoSpecialChar2024", "NoSpecialChar2024", ANSWER, ["The password does not meet the complexity rules."]),
        (f"X{local_part}-2024!", f"X{local_part}-2024!", ANSWER,
         ["The password does not meet the complexity rules."]),
        (PASSWORD, PASSWORD + "x", ANSWER, ["The passwords do not match."]),
        (PASSWORD, PASSWORD, "ab", ["The answer must contain at least 3 characters."]),
    ]
    for password, confirmation, answer, messages in cases:
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_label("Confirm password").fill(confirmation)
        page.get_by_label("Secret question").select_option(label=QUESTION)
        page.get_by_label("Answer").fill(answer)
        press(page)
        expect(alert).to_have_text(messages)
        expect(page.get_by_label("Secret question")).to_have_value("q_pet")  # kept; secrets are not echoed
        expect(page.get_by_label("Password", exact=True)).to_have_value("")
    assert account_of(portal.state(), mailbox_address)["status"] == "pending"


def test_a_used_link_and_an_unknown_token_are_not_valid(page: Page, portal, sandbox, mailbox_address: str) -> None:
    create_account(page, mailbox_address)
    link = activation_link(sandbox, mailbox_address)
    activate(page, link)

    page.goto(link)
    expect(page.get_by_role("alert")).to_have_text(INVALID)
    expect(page.get_by_label("Password", exact=True)).to_have_count(0)
    page.goto("/account/activate?token=" + "A" * 43)
    expect(page.get_by_role("alert")).to_have_text(INVALID)
    page.goto("/account/activate")
    expect(page.get_by_role("alert")).to_have_text(INVALID)
    assert account_of(portal.state(), mailbox_address)["status"] == "active"


def test_an_expired_link_offers_a_new_mail_whose_link_supersedes_the_old_one(page: Page, portal, sandbox,
                                                                              mailbox_address: str) -> None:
    create_account(page, mailbox_address)
    old_link = activation_link(sandbox, mailbox_address)
    portal.knobs(token_ttl_s=0.001)  # the link is older than that by the time it is opened

    page.goto(old_link)
    expect(page.get_by_role("alert")).to_have_text(EXPIRED)
    page.get_by_role("button", name="Send a new activation email").click()
    expect(page.get_by_role("status")).to_have_text(f"A new activation email has been sent to {mailbox_address}.")
    assert [(m["kind"], m["token_id"]) for m in mails_to(portal.state(), mailbox_address)] == [
        ("activation", "tok-1"), ("activation", "tok-2")]

    new_link = activation_link(sandbox, mailbox_address, count=2)
    assert new_link != old_link
    portal.knobs(token_ttl_s=3600)
    page.goto(old_link)  # a new mail makes every earlier link of the account invalid
    expect(page.get_by_role("alert")).to_have_text(INVALID)
    activate(page, new_link)
    assert account_of(portal.state(), mailbox_address)["status"] == "active"


def test_the_activated_page_without_an_activation_sends_the_visitor_home(page: Page, portal, sandbox) -> None:
    open_english(page, "/")
    page.goto("/account/activated")
    expect(page).to_have_url(f"{sandbox.url}/")
    expect(page.get_by_role("heading", name="Welcome to Chorus Pro")).to_be_visible()
