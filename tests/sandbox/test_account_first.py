"""The account-first journey (shared/spec/portal.md, "The live portal's journey today"), walked by a person.

A person creates a user account (personal information, the captcha answered from the test API),
activates it from the mail read over IMAP, logs in on the identity provider (another origin) with
the one-time code read from the second mail, then creates the structure at the first-login dialog
(identifier type, Search with the asynchronous INSEE lookup, work areas) and reaches the workspace,
in French and in English. Screens B→C and F→G→H→I change in place: a marker set on the window
survives them. Also: a wrong captcha gives a new image, 5 wrong passwords lock the account, an
existing structure offers the join request. No bot code is used here.
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from fixtures.portal.server import Sandbox, SandboxError
from helpers import BOULANGERIE, CLOSED, EXISTING, PASSWORD, UNKNOWN, read_mails

MARKER = "window.afMarker"


@dataclass(frozen=True)
class Wording:
    """What the person reads and types against, in one language (fixtures/portal/i18n.py)."""

    lang: str
    accept: str
    create_account: str
    personal_title: str
    login_email: str
    first_name: str
    last_name: str
    phone: str
    contact_email: str
    terms: str
    captcha_label: str
    captcha_validate: str
    captcha_ok: str
    captcha_wrong: str
    create_my_account: str
    summary_title: str
    summary_mail: str
    activation_subject: str
    anchor: str
    password: str
    confirm_password: str
    submit: str
    activated: str
    log_in: str
    idp_email: str
    code_label: str
    code_subject: str
    validate: str
    login_failed: str
    locked: str
    welcome: str
    new_structure: str
    join_structure: str
    structure_title: str
    identifier_type: str
    identifier: str
    search: str
    company_name: str
    postal_code: str
    city: str
    closed: str
    unknown: str
    exists_title: str
    join_request: str
    join_sent: str
    areas_title: str
    issued_invoices: str
    work_invoices: str
    done: str
    to_workspace: str
    workspace_title: str


FRENCH = Wording(
    lang="fr", accept="Tout accepter", create_account="Créer un compte", personal_title="Informations personnelles",
    login_email="Adresse e-mail de connexion", first_name="Prénom", last_name="Nom", phone="Téléphone",
    contact_email="Adresse e-mail de contact", terms="J'accepte les conditions générales d'utilisation",
    captcha_label="Caractères affichés dans l'image", captcha_validate="Valider le Captcha",
    captcha_ok="Captcha validé.", captcha_wrong="Les caractères ne correspondent pas à l'image.",
    create_my_account="Créer mon compte", summary_title="Votre compte a été créé",
    summary_mail="Un e-mail d'activation a été envoyé à {email}. Il est valable 60 minutes.",
    activation_subject="Chorus Pro - Activation de votre compte", anchor="Activer mon compte",
    password="Mot de passe", confirm_password="Confirmation du mot de passe", submit="Soumettre",
    activated="Votre compte est activé", log_in="Se connecter", idp_email="Adresse e-mail",
    code_label="Code de vérification", code_subject="Chorus Pro - Votre code de vérification", validate="Valider",
    login_failed="Adresse électronique ou mot de passe incorrect.",
    locked="Votre compte est verrouillé pour une heure.", welcome="Bienvenue sur Chorus Pro",
    new_structure="Créer une nouvelle structure", join_structure="Me rattacher à une structure existante",
    structure_title="Informations sur la structure", identifier_type="Type d'identifiant", identifier="Identifiant",
    search="Rechercher", company_name="Raison sociale", postal_code="Code postal", city="Ville",
    closed="Cet établissement est fermé dans la base de l'INSEE.",
    unknown="Ce SIRET est inconnu de la base de l'INSEE.",
    exists_title="Cette structure existe déjà dans Chorus Pro", join_request="Demander le rattachement",
    join_sent="Votre demande de rattachement a été transmise au gestionnaire principal de la structure.",
    areas_title="Espaces de la structure", issued_invoices="Factures émises", work_invoices="Factures de travaux",
    done="Votre structure a été créée. Vous en êtes le gestionnaire principal.",
    to_workspace="Accéder à mon espace",
    workspace_title="Votre espace",
)
ENGLISH = Wording(
    lang="en", accept="Accept all", create_account="Create an account", personal_title="Personal information",
    login_email="Login email", first_name="First name", last_name="Last name", phone="Phone number",
    contact_email="Contact email", terms="I accept the terms of use", captcha_label="Characters shown in the image",
    captcha_validate="Validate the captcha", captcha_ok="Captcha validated.",
    captcha_wrong="The characters do not match the image.", create_my_account="Create my account",
    summary_title="Your account has been created",
    summary_mail="An activation email has been sent to {email}. It is valid for 60 minutes.",
    activation_subject="Chorus Pro - Activate your account", anchor="Activate my account", password="Password",
    confirm_password="Confirm password", submit="Submit", activated="Your account is activated", log_in="Log in",
    idp_email="Email", code_label="Verification code", code_subject="Chorus Pro - Your verification code",
    validate="Validate", login_failed="Incorrect login email or password.",
    locked="Your account is locked for one hour.", welcome="Welcome to Chorus Pro",
    new_structure="Create a new structure", join_structure="Join an existing structure",
    structure_title="Information on the structure", identifier_type="Identifier type", identifier="Identifier",
    search="Search", company_name="Company name", postal_code="Postal code", city="City",
    closed="This establishment is closed in the INSEE database.",
    unknown="This SIRET is unknown in the INSEE database.",
    exists_title="This structure already exists in Chorus Pro", join_request="Request to join this structure",
    join_sent="Your request to join this structure has been sent to its primary manager.",
    areas_title="Working areas of the structure", issued_invoices="Issued invoices", work_invoices="Work invoices",
    done="Your structure has been created. You are its primary manager.", to_workspace="Go to my workspace",
    workspace_title="Your workspace",
)


@pytest.fixture(scope="module")
def af() -> Iterator[Sandbox]:
    with Sandbox(journey="account-first") as running:
        yield running


@pytest.fixture
def api(af: Sandbox) -> Iterator[httpx.Client]:
    """The test API, reset, with the captcha and the one-time code on (as on the live portal)."""
    with httpx.Client(base_url=af.url, timeout=10.0) as client:
        client.post("/_sandbox/reset").raise_for_status()
        client.post("/_sandbox/knobs", json={"captcha": True, "otp": True, "autofill_delay_ms": 800}
                    ).raise_for_status()
        yield client
        assert client.get("/_sandbox/state").json()["cea_hits"] == 0


@pytest.fixture
def page(browser: Browser, af: Sandbox, api: httpx.Client) -> Iterator[Page]:
    context = browser.new_context(base_url=af.url, locale="fr-FR")
    yield context.new_page()
    context.close()


def state(api: httpx.Client) -> dict:
    return api.get("/_sandbox/state").json()


# --- the person's steps ------------------------------------------------------------------------------
def open_home(page: Page, w: Wording) -> None:
    page.goto("/")
    if w.lang == "en":
        page.get_by_role("link", name="EN", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", w.lang)
    page.get_by_role("button", name=w.accept).click()


def answer_captcha(page: Page, api: httpx.Client, w: Wording) -> None:
    page.get_by_label(w.captcha_label).fill(api.get("/_sandbox/captcha").json()["text"])
    page.get_by_role("button", name=w.captcha_validate).click()
    expect(page.get_by_role("status")).to_have_text(w.captcha_ok)


def create_account(page: Page, api: httpx.Client, w: Wording, email: str) -> None:
    """A → B → C: ends on the summary, the activation mail on its way."""
    open_home(page, w)
    page.get_by_role("link", name=w.create_account).click()
    expect(page.get_by_role("heading", name=w.personal_title)).to_be_visible()
    page.get_by_label(w.login_email, exact=True).fill(email)
    page.get_by_label(w.first_name, exact=True).fill("Camille")
    page.get_by_label(w.last_name, exact=True).fill("Dupré")
    page.get_by_label(w.phone).fill("+33 4 72 00 00 00")
    expect(page.get_by_label(w.contact_email)).to_have_value(email)
    page.get_by_label(w.terms).check()
    expect(page.get_by_role("button", name=w.create_my_account)).to_be_disabled()
    page.evaluate(f"{MARKER} = 'B'")
    answer_captcha(page, api, w)
    page.get_by_role("button", name=w.create_my_account).click()
    expect(page.get_by_role("heading", name=w.summary_title)).to_be_visible()
    expect(page.get_by_text(w.summary_mail.format(email=email))).to_be_visible()


def activate(page: Page, af: Sandbox, w: Wording, email: str) -> None:
    """D, from the mail's link: password, confirmation, Submit."""
    mail = read_mails(af, email)[0]
    assert mail.subject == w.activation_subject
    page.goto(mail.link(w.anchor))
    expect(page.get_by_label(w.password, exact=True)).to_be_visible()
    expect(page.get_by_label("Question secrète")).to_have_count(0)
    expect(page.get_by_label("Secret question")).to_have_count(0)
    page.get_by_label(w.password, exact=True).fill(PASSWORD)
    page.get_by_label(w.confirm_password).fill(PASSWORD)
    page.get_by_role("button", name=w.submit).click()
    expect(page.get_by_role("heading", name=w.activated)).to_be_visible()


def idp_password(page: Page, w: Wording, email: str, password: str = PASSWORD) -> None:
    page.get_by_label(w.idp_email, exact=True).fill(email)
    page.get_by_label(w.password, exact=True).fill(password)
    page.get_by_role("button", name=w.log_in).click()


def log_in(page: Page, af: Sandbox, w: Wording, email: str) -> None:
    """E: on the identity provider's origin, password then the mailed code; ends on F's dialog."""
    page.get_by_role("link", name=w.log_in).click()
    expect(page.get_by_label(w.idp_email, exact=True)).to_be_visible()
    idp, portal = urlsplit(page.url), urlsplit(af.url)
    assert f"{idp.scheme}://{idp.netloc}" == af.idp_url and idp.netloc != portal.netloc
    idp_password(page, w, email)
    expect(page.get_by_label(w.code_label)).to_be_visible()
    mail = read_mails(af, email, count=2)[-1]
    assert mail.subject == w.code_subject
    code = re.search(r"\b(\d{6})\b", mail.text)
    assert code, "no 6-digit code in the mail"
    page.get_by_label(w.code_label).fill(code.group(1))
    page.get_by_role("button", name=w.validate).click()
    expect(page.get_by_role("dialog", name=w.welcome)).to_be_visible()
    assert urlsplit(page.url).netloc == portal.netloc


def search(page: Page, w: Wording, siret: str) -> None:
    page.get_by_label(w.identifier, exact=True).fill(siret)
    page.get_by_role("button", name=w.search).click()


def marker(page: Page) -> str | None:
    return page.evaluate(MARKER)


# --- the tests -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("w", [FRENCH, ENGLISH], ids=["fr", "en"])
def test_a_person_walks_the_whole_journey_to_the_workspace(page: Page, af: Sandbox, api: httpx.Client,
                                                          mailbox_address: str, w: Wording) -> None:
    email = mailbox_address
    create_account(page, api, w, email)
    assert marker(page) == "B", "B → C loaded a page"
    assert page.url.endswith("/aife_csm?id=account_created")
    account = [a for a in state(api)["accounts"] if a["email"] == email]
    assert len(account) == 1 and account[0]["siret"] is None and account[0]["status"] == "pending"
    assert account[0]["notification_email"] == email

    activate(page, af, w, email)
    log_in(page, af, w, email)
    assert page.url.endswith("/aife_csm?id=first_login")
    page.evaluate(f"{MARKER} = 'F'")

    page.get_by_role("button", name=w.new_structure).click()
    expect(page.get_by_role("heading", name=w.structure_title)).to_be_visible()
    assert page.url.endswith("/aife_csm?id=structure")
    expect(page.get_by_label(w.identifier_type)).to_have_value("siret")
    expect(page.get_by_label(w.company_name)).to_be_hidden()
    search(page, w, BOULANGERIE)
    expect(page.locator("#search-spinner")).to_be_visible()  # the lookup takes autofill_delay_ms
    expect(page.get_by_label(w.company_name)).to_have_value("Boulangerie Dupré SARL")
    expect(page.locator("#search-spinner")).to_be_hidden()
    expect(page.get_by_label(w.postal_code)).to_have_value("69003")
    expect(page.get_by_label(w.city)).to_have_value("LYON")
    page.get_by_role("button", name=w.validate, exact=True).click()

    expect(page.get_by_role("heading", name=w.areas_title)).to_be_visible()
    expect(page.get_by_role("switch", name=w.issued_invoices)).to_have_attribute("aria-checked", "true")
    page.get_by_role("switch", name=w.work_invoices).click()
    expect(page.get_by_role("switch", name=w.work_invoices)).to_have_attribute("aria-checked", "true")
    page.get_by_role("button", name=w.validate, exact=True).click()

    expect(page.get_by_text(w.done)).to_be_visible()
    assert page.url.endswith("/aife_csm?id=structure_created")
    assert marker(page) == "F", "F → G → H → I loaded a page"

    page.get_by_role("link", name=w.to_workspace).click()
    expect(page.get_by_role("heading", name=w.workspace_title)).to_be_visible()
    expect(page.get_by_role("tab", name=w.work_invoices)).to_be_visible()

    now = state(api)
    accounts = [a for a in now["accounts"] if a["email"] == email]
    structures = [s for s in now["structures"] if s["siret"] == BOULANGERIE]
    assert len(accounts) == 1 and accounts[0]["siret"] == BOULANGERIE and accounts[0]["status"] == "active"
    assert accounts[0]["primary_manager"] and "Work invoices" in accounts[0]["areas"]
    assert len(structures) == 1 and structures[0]["manager_email"] == email
    assert now["join_requests"] == [] and now["journey"] == "account-first"


def test_a_login_email_typed_before_the_pages_script_ran_is_copied_to_the_contact_email(
        page: Page, api: httpx.Client) -> None:
    """On a slow load a person types before the page's script runs: the contact address
    still follows the login address once it does."""
    open_home(page, ENGLISH)
    held = []
    page.route("**/static/af.js", lambda route: held.append(route))  # held until the person has typed
    page.get_by_role("link", name=ENGLISH.create_account).click()
    expect(page.get_by_role("heading", name=ENGLISH.personal_title)).to_be_visible()
    page.get_by_label(ENGLISH.login_email, exact=True).fill("ap+slowload@ssc.example")
    expect(page.get_by_label(ENGLISH.contact_email)).to_have_value("")
    assert held, "the page did not load its script anew: nothing was held"
    for route in held:
        route.continue_()
    expect(page.get_by_label(ENGLISH.contact_email)).to_have_value("ap+slowload@ssc.example")


def test_a_wrong_captcha_gives_a_new_image_and_keeps_create_my_account_disabled(
        page: Page, api: httpx.Client) -> None:
    w = FRENCH
    open_home(page, w)
    page.get_by_role("link", name=w.create_account).click()
    image = page.locator("#captcha-image")
    first_src, first_text = image.get_attribute("src"), api.get("/_sandbox/captcha").json()["text"]
    page.get_by_label(w.captcha_label).fill("00000")  # 0 is never drawn
    page.get_by_role("button", name=w.captcha_validate).click()
    expect(page.get_by_role("alert")).to_have_text(w.captcha_wrong)
    expect(image).not_to_have_attribute("src", first_src)
    assert api.get("/_sandbox/captcha").json()["text"] != first_text
    expect(page.get_by_role("button", name=w.create_my_account)).to_be_disabled()
    answer_captcha(page, api, w)
    expect(page.get_by_role("button", name=w.create_my_account)).to_be_enabled()


def test_five_wrong_passwords_lock_the_account(page: Page, af: Sandbox, api: httpx.Client,
                                               mailbox_address: str) -> None:
    w = ENGLISH
    create_account(page, api, w, mailbox_address)
    activate(page, af, w, mailbox_address)
    page.get_by_role("link", name=w.log_in).click()
    for attempt in range(1, 6):
        idp_password(page, w, mailbox_address, "Wrong-Password-2024!")
        expect(page.get_by_role("alert")).to_have_text(w.locked if attempt == 5 else w.login_failed)
    idp_password(page, w, mailbox_address)  # the right one: still locked
    expect(page.get_by_role("alert")).to_have_text(w.locked)
    [account] = [a for a in state(api)["accounts"] if a["email"] == mailbox_address]
    assert account["locked"] is True


def test_an_existing_structure_offers_the_join_request(page: Page, af: Sandbox, api: httpx.Client,
                                                       mailbox_address: str) -> None:
    w = ENGLISH
    structures_before = state(api)["structures"]
    create_account(page, api, w, mailbox_address)
    activate(page, af, w, mailbox_address)
    log_in(page, af, w, mailbox_address)
    page.get_by_role("button", name=w.join_structure).click()
    for siret, message in ((CLOSED, w.closed), (UNKNOWN, w.unknown)):
        search(page, w, siret)
        expect(page.get_by_role("alert")).to_have_text(message)
    search(page, w, EXISTING)
    expect(page.get_by_role("heading", name=w.exists_title)).to_be_visible()
    expect(page.get_by_text("m*****r@existing.example")).to_be_visible()
    page.get_by_role("button", name=w.join_request).click()
    expect(page.get_by_text(w.join_sent)).to_be_visible()
    now = state(api)
    assert [(j["email"], j["siret"]) for j in now["join_requests"]] == [(mailbox_address, EXISTING)]
    [account] = [a for a in now["accounts"] if a["email"] == mailbox_address]
    assert account["siret"] is None and now["structures"] == structures_before


def test_the_live_like_profile_uses_the_account_first_journey_and_a_flag_overrides_it() -> None:
    assert Sandbox(profile="live-like").journey == "account-first"
    assert Sandbox(profile="live-like", journey="guide").journey == "guide"
    assert Sandbox().journey == "guide"


def test_chorus_bot_sandbox_prints_the_identity_providers_origin(tmp_path) -> None:
    cli = Path(sys.executable).with_name("chorus-bot")
    run = subprocess.Popen([str(cli), "sandbox", "--port", "0", "--journey", "account-first"], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        settings = {}
        for line in run.stdout:
            if line.strip() == "sandbox ready":
                break
            name, _, value = line.strip().partition("=")
            settings[name] = value
        portal, idp = settings["CHORUS_PORTAL_URL"], settings["CHORUS_IDP_URL"]
        assert urlsplit(portal).netloc != urlsplit(idp).netloc
        assert httpx.get(f"{portal}/_sandbox/state").json()["journey"] == "account-first"
        assert "Chorus Pro - Authentification" in httpx.get(f"{idp}/idp/login").text
    finally:
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 0


def test_an_unknown_journey_is_one_clear_line() -> None:
    with pytest.raises(SandboxError) as error:
        Sandbox(journey="wizard").start()
    assert str(error.value) == "unknown sandbox journey 'wizard' (choose guide or account-first)"
