"""Markups (docs/SANDBOX.md, "Markups"): the same guide journey built three ways.

`alt` is walked by a person in French and in English through to activation, checking that its
structure really differs from `standard` (modal cookie dialog, button language switch, headings
as `role="heading"`, labels tied by aria-labelledby / a wrapping label / aria-label, submit
inputs, checkbox switches, step 2 in another order, steps 1 and 3 swapped in place). `labels`
renames one field; `language_switch` removes the FR/EN switch; a reset brings back the run's
markup, set by `Sandbox(markup=...)` or `chorus-bot sandbox --markup`.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from fixtures.portal.server import Sandbox, SandboxError
from helpers import ANSWER, BAD_CHECKSUM, BOULANGERIE, EXISTING, PASSWORD, Person, account_of, read_mails


@dataclass(frozen=True)
class Wording:
    """What the person reads and types against, in one language (shared/spec/portal.md, fixtures/portal/i18n.py)."""

    lang: str
    cookie_title: str
    accept: str
    home_title: str
    create_account: str
    login_email: str
    siret: str
    validate: str
    invalid_siret: str
    structure_title: str
    company_name: str
    first_name: str
    last_name: str
    phone: str
    job_title: str
    terms: str
    areas_title: str
    areas_paragraph: str
    issued_invoices: str
    work_invoices: str
    created_title: str
    subject: str
    anchor: str
    activate_title: str
    password: str
    confirm_password: str
    secret_question: str
    question: str
    answer: str
    activated: str


FRENCH = Wording(
    lang="fr", cookie_title="Gestion des cookies", accept="Tout accepter", home_title="Bienvenue sur Chorus Pro",
    create_account="Créer un compte", login_email="Adresse électronique de connexion",
    siret="Numéro d'immatriculation de l'entreprise (SIRET)", validate="Valider",
    invalid_siret="Le SIRET doit comporter 14 chiffres.", structure_title="Votre structure",
    company_name="Raison sociale", first_name="Prénom", last_name="Nom", phone="Numéro de téléphone",
    job_title="Fonction", terms="J'accepte les conditions générales d'utilisation",
    areas_title="Espaces de travail", areas_paragraph="Ouvrez vos espaces de travail",
    issued_invoices="Factures émises", work_invoices="Factures de travaux", created_title="Votre compte est créé",
    subject="Chorus Pro - Activation de votre compte", anchor="Activer mon compte",
    activate_title="Activez votre compte utilisateur", password="Mot de passe",
    confirm_password="Confirmation du mot de passe", secret_question="Question secrète",
    question="Quel est le nom de votre premier animal de compagnie ?", answer="Réponse",
    activated="Votre compte a été activé, vous pouvez désormais émettre des factures à votre client public.",
)
ENGLISH = Wording(
    lang="en", cookie_title="Cookie management", accept="Accept all", home_title="Welcome to Chorus Pro",
    create_account="Create an account", login_email="Login email", siret="Company registration number (SIRET)",
    validate="Validate", invalid_siret="The SIRET must contain 14 digits.", structure_title="Your structure",
    company_name="Company name", first_name="First name", last_name="Last name", phone="Phone number",
    job_title="Job title", terms="I accept the terms of use", areas_title="Work areas",
    areas_paragraph="Open your working areas", issued_invoices="Issued invoices", work_invoices="Work invoices",
    created_title="Your account is created", subject="Chorus Pro - Activate your account",
    anchor="Activate my account", activate_title="Activate your user account", password="Password",
    confirm_password="Confirm password", secret_question="Secret question",
    question="What is the name of your first pet?", answer="Answer",
    activated="Your account has been activated, you can now issue invoices to your public client.",
)
MARKER = "window.__chorusSameDocument"  # set before a click; a page load would drop it


@pytest.fixture(autouse=True)
def standard_markup_afterwards(request: pytest.FixtureRequest) -> Iterator[None]:
    """The shared sandbox leaves each test here in its own markup, for tests elsewhere that do not reset it."""
    yield
    if "sandbox" in request.fixturenames:
        url = request.getfixturevalue("sandbox").url
        httpx.post(f"{url}/_sandbox/knobs", json={"markup": "standard", "language_switch": True}).raise_for_status()


def field(page: Page, label: str) -> Locator:
    """A field by what a person reads beside it: the label, whatever ties it, asterisk and spaces ignored."""
    return page.get_by_label(re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$"))


def set_marker(page: Page, value: str) -> None:
    page.evaluate(f"{MARKER} = {value!r}")


def marker(page: Page) -> str | None:
    return page.evaluate(f"typeof {MARKER} === 'undefined' ? null : {MARKER}")


def shot(page: Page, folder: Path, name: str) -> None:
    """A picture of the alt screen, kept in the test's temporary folder for a look after a failure."""
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def answer_the_modal_cookie_dialog(page: Page, w: Wording) -> None:
    """On a first visit the dialog is modal: the language switch cannot be clicked until it is answered."""
    dialog = page.get_by_role("dialog", name=FRENCH.cookie_title)  # the portal starts in French
    expect(dialog).to_have_attribute("aria-modal", "true")
    expect(dialog.get_by_role("button")).to_have_text(["Tout accepter", "Tout refuser"])
    expect(dialog.locator("button")).to_have_count(0)  # links playing buttons
    expect(dialog.locator("a[role=button]")).to_have_count(2)
    switch = page.get_by_role("button", name=w.lang.upper(), exact=True)
    box = switch.bounding_box()
    assert box is not None
    on_top = page.evaluate("([x, y]) => document.elementFromPoint(x, y).textContent.trim()",
                           [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert on_top != w.lang.upper(), "the backdrop should cover the language switch"
    dialog.get_by_role("button", name=FRENCH.accept).click()
    expect(page.get_by_role("dialog")).to_have_count(0)


@pytest.mark.parametrize("w", [ENGLISH, FRENCH], ids=["en", "fr"])
def test_a_person_completes_the_alt_journey_through_activation(page: Page, portal, sandbox, tmp_path: Path,
                                                               mailbox_address: str, w: Wording) -> None:
    portal.knobs(markup="alt")
    page.goto("/")
    shot(page, tmp_path, "01-home-cookie-dialog")
    answer_the_modal_cookie_dialog(page, w)
    expect(page.get_by_role("link", name=w.lang.upper(), exact=True)).to_have_count(0)
    page.get_by_role("button", name=w.lang.upper(), exact=True).click()  # a <button>, not a link
    expect(page.locator("html")).to_have_attribute("lang", w.lang)
    expect(page.get_by_role("heading", name=w.home_title, level=1)).to_be_visible()
    expect(page.locator("h1, h2, h3")).to_have_count(0)  # headings are <div role="heading">

    page.get_by_role("link", name=w.create_account, exact=True).click()
    expect(page.get_by_role("heading", name=w.create_account, level=1)).to_be_visible()
    expect(page.locator("label[for]")).to_have_count(0)
    expect(page.get_by_role("textbox", name=f"{w.login_email} *", exact=True)).to_have_attribute(
        "aria-labelledby", re.compile(r"\S"))
    expect(page.get_by_role("textbox", name=f"{w.siret} *", exact=True)).to_be_visible()  # in a wrapping label
    expect(page.locator("main button")).to_have_count(0)
    expect(page.locator("main input[type=submit]")).to_have_value(w.validate)
    shot(page, tmp_path, "02-step1")

    # Step 1's Validate posts with fetch() and swaps the screen in place, errors included.
    set_marker(page, "step1")
    field(page, w.login_email).fill(mailbox_address)
    field(page, w.siret).fill(BAD_CHECKSUM)
    page.get_by_role("button", name=w.validate, exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(w.invalid_siret)
    field(page, w.siret).fill(BOULANGERIE)
    page.get_by_role("button", name=w.validate, exact=True).click()
    expect(page.get_by_role("heading", name=w.structure_title, level=1)).to_be_visible()
    expect(page).to_have_url(f"{sandbox.url}/account/structure")
    assert marker(page) == "step1", "step 1 -> step 2 should change the page in place"

    # Step 2 (an ordinary post): the person's block first, labels tied three ways, none by <label for>.
    expect(field(page, w.company_name)).to_have_value("Boulangerie Dupré SARL")  # INSEE autofill, in place too
    expect(field(page, w.company_name)).to_be_enabled()
    expect(page.locator("label[for]")).to_have_count(0)
    first, company = field(page, w.first_name).bounding_box(), field(page, w.company_name).bounding_box()
    assert first is not None and company is not None and first["y"] < company["y"]
    expect(field(page, w.first_name)).to_have_attribute("aria-labelledby", re.compile(r"\S"))
    expect(page.locator("label").filter(has=field(page, w.last_name))).to_have_count(1)  # wrapping label
    expect(field(page, w.phone)).to_have_attribute("aria-label", w.phone)
    expect(page.get_by_role("textbox", name=f"{w.company_name} *", exact=True)).to_be_visible()
    shot(page, tmp_path, "03-step2")
    person = Person()
    field(page, w.first_name).fill(person.first_name)
    field(page, w.last_name).fill(person.last_name)
    field(page, w.phone).fill(person.phone)
    field(page, w.job_title).fill(person.job_title)
    page.get_by_role("checkbox", name=re.compile(rf"^{re.escape(w.terms)}\s*\*$")).check()
    page.get_by_role("button", name=w.validate, exact=True).click()

    # Step 3: titled "Work areas"; "Open your working areas" is a paragraph; switches are checkboxes.
    expect(page.get_by_role("heading", level=1)).to_have_text(w.areas_title)
    expect(page.get_by_role("heading", name=w.areas_paragraph)).to_have_count(0)
    expect(page.locator("p", has_text=w.areas_paragraph)).to_be_visible()
    expect(page.locator("main button")).to_have_count(0)
    switches = page.get_by_role("switch")
    expect(switches).to_have_count(6)
    expect(page.locator("input[type=checkbox][role=switch]")).to_have_count(6)
    expect(page.locator("[role=switch][aria-checked]")).to_have_count(0)
    expect(page.get_by_role("switch", name=w.issued_invoices, exact=True)).to_be_checked()
    work = page.get_by_role("switch", name=w.work_invoices, exact=True)
    expect(work).not_to_be_checked()
    work.click()
    expect(work).to_be_checked()
    shot(page, tmp_path, "04-step3")

    set_marker(page, "step3")
    page.get_by_role("button", name=w.validate, exact=True).click()
    expect(page.get_by_role("heading", name=w.created_title, level=1)).to_be_visible()
    expect(page).to_have_url(f"{sandbox.url}/account/created")
    assert marker(page) == "step3", "step 3 -> step 4 should change the page in place"
    shot(page, tmp_path, "05-step4")
    page.reload()  # the pushed address renders the same screen
    expect(page.get_by_role("heading", name=w.created_title, level=1)).to_be_visible()
    assert marker(page) is None

    (mail,) = read_mails(sandbox, mailbox_address)
    assert mail.subject == w.subject
    page.goto(mail.link(w.anchor))
    expect(page.get_by_role("heading", name=w.activate_title, level=1)).to_be_visible()
    expect(page.locator("label[for]")).to_have_count(0)
    shot(page, tmp_path, "06-activation")
    field(page, w.password).fill(PASSWORD)
    field(page, w.confirm_password).fill(PASSWORD)
    field(page, w.secret_question).select_option(label=w.question)
    field(page, w.answer).fill(ANSWER)
    page.get_by_role("button", name=w.validate, exact=True).click()
    expect(page.get_by_role("status")).to_have_text(w.activated)
    shot(page, tmp_path, "07-activated")

    account = account_of(portal.state(), mailbox_address)
    assert (account["status"], account["lang"], account["company_name"]) == ("active", w.lang,
                                                                             "Boulangerie Dupré SARL")
    assert account["areas"] == ["Sent requests", "Issued invoices", "Manager activities", "Work invoices"]


def test_alt_keeps_the_journeys_behaviour_and_shows_errors_in_place(page: Page, portal, sandbox,
                                                                     mailbox_address: str) -> None:
    portal.knobs(markup="alt", fail_next={"/account/work-areas": 1})
    page.goto("/?lang=en")
    page.get_by_role("button", name="Accept all").click()
    page.goto("/account/new")
    set_marker(page, "step1")
    field(page, "Login email").fill(mailbox_address)
    field(page, "Company registration number (SIRET)").fill(EXISTING)
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="This structure already exists in Chorus Pro")).to_be_visible()
    assert marker(page) == "step1"
    page.goto("/account/new")
    field(page, "Login email").fill(mailbox_address)
    field(page, "Company registration number (SIRET)").fill(BOULANGERIE)
    page.get_by_role("button", name="Validate").click()
    expect(field(page, "Company name")).to_have_value("Boulangerie Dupré SARL")

    page.get_by_role("button", name="Validate").click()  # step 2 posts as an ordinary form
    expect(page.get_by_role("alert")).to_have_text("Some fields are missing or incorrect.")
    expect(page.locator("[data-field=first_name]")).to_contain_text("This field is required.")
    page.get_by_role("button", name="Add a notification email").click()
    expect(field(page, "Notification email address")).to_be_visible()
    page.get_by_role("checkbox", name="INSEE not diffusible").check()
    expect(field(page, "Address")).to_be_hidden()
    page.get_by_role("checkbox", name="INSEE not diffusible").uncheck()
    expect(field(page, "Address")).to_have_value("12 RUE DES LILAS")
    field(page, "First name").fill("Camille")
    field(page, "Last name").fill("Dupré")
    field(page, "Phone number").fill("+33 4 72 00 00 00")
    page.get_by_role("checkbox", name=re.compile(r"^I accept the terms of use")).check()
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Work areas")
    expect(page.get_by_role("switch", name="Sent requests", exact=True)).to_be_disabled()

    set_marker(page, "step3")
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("alert")).to_have_text("An unexpected error occurred.")
    expect(page).to_have_url(f"{sandbox.url}/account/work-areas")
    assert marker(page) == "step3"
    assert not [a for a in portal.state()["accounts"] if a["email"] == mailbox_address]


def test_labels_renames_the_siret_field_in_both_languages_and_nothing_else(page: Page, portal, sandbox,
                                                                          mailbox_address: str) -> None:
    portal.knobs(markup="labels")
    page.goto("/account/new")
    expect(page.get_by_label("Identifiant d'établissement (SIRET)", exact=True)).to_be_visible()
    expect(page.get_by_label("Numéro d'immatriculation de l'entreprise (SIRET)")).to_have_count(0)
    expect(page.get_by_label("Adresse électronique de connexion", exact=True)).to_be_visible()
    page.get_by_role("link", name="EN", exact=True).click()
    page.get_by_role("button", name="Accept all").click()
    expect(page.get_by_label("Establishment identifier (SIRET)", exact=True)).to_be_visible()
    expect(page.get_by_label("Company registration number (SIRET)")).to_have_count(0)
    expect(page.locator("label[for=siret]")).to_have_count(1)  # otherwise the standard markup
    page.get_by_label("Login email", exact=True).fill(mailbox_address)
    page.get_by_label("Establishment identifier (SIRET)").fill(BAD_CHECKSUM)
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("alert")).to_have_text("The SIRET must contain 14 digits.")  # messages unchanged
    page.get_by_label("Establishment identifier (SIRET)").fill(BOULANGERIE)
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="Your structure")).to_be_visible()


@pytest.mark.parametrize("markup", ["standard", "alt"])
def test_without_the_language_switch_lang_en_still_gives_english(page: Page, portal, markup: str) -> None:
    portal.knobs(markup=markup, language_switch=False)
    page.goto("/")
    expect(page.get_by_role("heading", name="Bienvenue sur Chorus Pro", level=1)).to_be_visible()
    for role in ("link", "button"):
        for code in ("FR", "EN"):
            expect(page.get_by_role(role, name=code, exact=True)).to_have_count(0)
    page.goto("/account/new?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Create an account", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="EN", exact=True)).to_have_count(0)


def test_the_markup_knob_switches_the_pages_and_a_reset_restores_standard(portal, sandbox) -> None:
    with httpx.Client(base_url=sandbox.url, cookies={"cp_lang": "en"}) as client:
        standard = client.get("/account/new").text
        assert '<label for="siret">Company registration number (SIRET)</label>' in standard
        knobs = portal.knobs(markup="alt", language_switch=False)
        assert (knobs["markup"], knobs["language_switch"]) == ("alt", False)
        alt = client.get("/account/new").text
        assert '<input type="submit"' in alt and "<label for=" not in alt and 'data-lang="en"' not in alt
        portal.knobs(markup="labels", language_switch=True)
        assert "Establishment identifier (SIRET)" in client.get("/account/new").text
        portal.reset()
        knobs = portal.state()["knobs"]
        assert (knobs["markup"], knobs["language_switch"]) == ("standard", True)
        assert client.get("/account/new").text.count('<label for="siret">Company registration number') == 1
        for body, message in (({"markup": "fancy"}, "markup: expected one of standard, alt, labels"),
                              ({"language_switch": "no"}, "language_switch: expected true or false")):
            answer = client.post("/_sandbox/knobs", json=body)
            assert (answer.status_code, answer.json()) == (400, {"error": message})


def test_an_unknown_markup_is_one_clear_line() -> None:
    with pytest.raises(SandboxError) as error:
        Sandbox(markup="fancy").start()
    assert str(error.value) == "unknown sandbox markup 'fancy' (choose standard, alt or labels)"


def test_chorus_bot_sandbox_markup_from_the_environment_survives_a_reset(tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("chorus-bot")
    env = {**os.environ, "CHORUS_SANDBOX_MARKUP": "labels"}
    with subprocess.Popen([str(cli), "sandbox", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env, cwd=tmp_path) as run:
        try:
            assert run.stdout is not None
            settings = {}
            for line in run.stdout:  # the command prints its settings, then "sandbox ready"
                if line.strip() == "sandbox ready":
                    break
                name, _, value = line.strip().partition("=")
                settings[name] = value
            url = settings["CHORUS_PORTAL_URL"]
            assert httpx.get(f"{url}/_sandbox/state").json()["knobs"]["markup"] == "labels"
            httpx.post(f"{url}/_sandbox/knobs", json={"markup": "alt"}).raise_for_status()
            httpx.post(f"{url}/_sandbox/reset").raise_for_status()
            assert httpx.get(f"{url}/_sandbox/state").json()["knobs"]["markup"] == "labels"
            page = httpx.get(f"{url}/account/new?lang=en").text
            assert "Establishment identifier (SIRET)" in page
        finally:
            run.send_signal(signal.SIGTERM)
            run.wait(timeout=30)
    assert run.returncode == 0
