"""French by default, English one click away (spec "Screens"): labels and messages in both
languages, the FR/EN switch keeping the page, and a whole sign-up in French with its French mail.
"""
from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from helpers import ANSWER, BAD_CHECKSUM, BOULANGERIE, PASSWORD, SUBJECT_FR, account_of, mails_to, read_mails


def test_the_portal_starts_in_french_even_for_an_english_browser(browser: Browser, portal, sandbox) -> None:
    context = browser.new_context(locale="en-US", base_url=sandbox.url)
    try:
        page = context.new_page()
        page.goto("/")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.get_by_role("heading", level=1)).to_have_text("Bienvenue sur Chorus Pro")
        login = page.get_by_role("region", name="Connexion")
        expect(login.get_by_label("Adresse électronique de connexion")).to_be_visible()
        expect(login.get_by_label("Mot de passe")).to_be_visible()
        expect(login.get_by_role("button", name="Se connecter")).to_be_visible()
        new = page.get_by_role("region", name="Nouveau sur Chorus Pro ?")
        expect(new.get_by_role("link", name="Créer un compte")).to_be_visible()
        expect(page.get_by_role("link", name="Fournisseurs du CEA : connectez-vous au compte CEA")).to_be_visible()
        banner = page.get_by_role("dialog", name="Gestion des cookies")
        expect(banner.get_by_role("button")).to_have_text(["Tout accepter", "Tout refuser"])
        expect(page.get_by_role("link", name="FR", exact=True)).to_have_attribute("aria-current", "true")
    finally:
        context.close()


def test_the_switch_keeps_the_page_and_the_choice_is_remembered(page: Page, portal, sandbox) -> None:
    page.goto("/account/new")
    expect(page.get_by_label("Numéro d'immatriculation de l'entreprise (SIRET)")).to_be_visible()
    page.get_by_role("link", name="EN", exact=True).click()
    expect(page).to_have_url(f"{sandbox.url}/account/new?lang=en")
    expect(page.get_by_label("Company registration number (SIRET)")).to_be_visible()
    expect(page.get_by_role("dialog", name="Cookie management")).to_be_visible()
    page.get_by_role("button", name="Accept all").click()
    page.goto("/login")  # no ?lang: the choice is remembered
    expect(page.get_by_role("heading", name="Log in", level=1)).to_be_visible()
    page.goto("/account/activate?token=abc")
    expect(page.get_by_role("link", name="FR", exact=True)).to_have_attribute(
        "href", "/account/activate?token=abc&lang=fr")
    page.get_by_role("link", name="FR", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Ce lien d'activation n'est pas valide.")
    page.goto("/login")
    expect(page.get_by_role("heading", name="Connexion", level=1)).to_be_visible()


def test_a_whole_sign_up_in_french_gets_french_messages_and_a_french_mail(page: Page, portal, sandbox,
                                                                          mailbox_address: str) -> None:
    page.goto("/")
    page.get_by_role("button", name="Tout accepter").click()
    page.get_by_role("link", name="Créer un compte").click()
    page.get_by_label("Adresse électronique de connexion").fill(mailbox_address)
    page.get_by_label("Numéro d'immatriculation de l'entreprise (SIRET)").fill(BAD_CHECKSUM)
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("alert")).to_have_text("Le SIRET doit comporter 14 chiffres.")
    page.get_by_label("Numéro d'immatriculation de l'entreprise (SIRET)").fill(BOULANGERIE)
    page.get_by_role("button", name="Valider").click()

    expect(page.get_by_role("heading", name="Votre structure")).to_be_visible()
    expect(page.get_by_label("Raison sociale")).to_have_value("Boulangerie Dupré SARL")
    expect(page.get_by_label("Adresse", exact=True)).to_have_value("12 RUE DES LILAS")
    expect(page.get_by_label("Code postal")).to_have_value("69003")
    expect(page.get_by_label("Pays").locator("option:checked")).to_have_text("France")
    expect(page.get_by_label("Non diffusible INSEE")).not_to_be_checked()
    expect(page.get_by_role("button", name="Ajouter une adresse de notification")).to_be_visible()
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#field-first_name .field-error")).to_have_text("Ce champ est obligatoire.")
    page.get_by_label("Prénom").fill("Camille")
    page.get_by_label("Nom", exact=True).fill("Dupré")
    page.get_by_label("Numéro de téléphone").fill("04 72 00 00 00")
    page.get_by_label("Fonction").fill("Gérante")
    page.get_by_label("J'accepte les conditions générales d'utilisation").check()
    page.get_by_role("button", name="Valider").click()

    expect(page.get_by_role("heading", name="Ouvrez vos espaces de travail")).to_be_visible()
    expect(page.get_by_role("switch")).to_have_count(6)
    for name in ("Sollicitations émises", "Factures émises", "Activités du gestionnaire", "Factures de travaux",
                 "Engagements", "Factures reçues"):
        expect(page.get_by_role("switch", name=name, exact=True), name).to_be_visible()
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Votre compte est créé")).to_be_visible()
    expect(page.locator("#created-mail")).to_have_text(
        f"Un courriel d'activation a été envoyé à {mailbox_address}. Sa validité est limitée.")

    (mail,) = read_mails(sandbox, mailbox_address)
    assert mail.subject == SUBJECT_FR
    assert [m["subject"] for m in mails_to(portal.state(), mailbox_address)] == [SUBJECT_FR]
    page.goto(mail.link("Activer mon compte"))
    expect(page.get_by_role("heading", name="Activez votre compte utilisateur")).to_be_visible()
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_label("Confirmation du mot de passe").fill(PASSWORD + "!")
    page.get_by_label("Question secrète").select_option(label="Dans quelle ville êtes-vous né ?")
    page.get_by_label("Réponse").fill(ANSWER)
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("alert")).to_have_text("Les mots de passe ne correspondent pas.")
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_label("Confirmation du mot de passe").fill(PASSWORD)
    page.get_by_label("Réponse").fill(ANSWER)
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("status")).to_have_text(
        "Votre compte a été activé, vous pouvez désormais émettre des factures à votre client public.")
    account = account_of(portal.state(), mailbox_address)
    assert (account["status"], account["secret_question"]) == ("active", "In which city were you born?")
