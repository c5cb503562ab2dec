"""The label catalogue (bot/labels.py): how a wording matches what a page shows, in Python and
in the browser (the same regex goes to Playwright), and that the catalogue covers both journeys."""
from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from bot import labels as L
from bot.labels import W
from bot.pages.elements import Element, Role

SIRET = L.STEP1_SIRET


@pytest.mark.parametrize(
    "shown",
    [
        "Company registration number (SIRET)",
        "Company registration number (SIRET) *",
        "Company registration number (SIRET)*",
        "* Company registration number (SIRET)",
        "  Company registration\n   number  (SIRET)\n *",
        "company registration number (siret)",
        "Numéro d'immatriculation de l'entreprise (SIRET)",
        "Numéro d’immatriculation de l’entreprise (SIRET) *",
        "Numéro\u00a0d'immatriculation de l'entreprise (SIRET)",
    ],
)
def test_a_wording_matches_whatever_the_asterisk_whitespace_case_or_apostrophe(shown: str) -> None:
    assert SIRET.matches(shown)


@pytest.mark.parametrize(
    "shown",
    [
        "Company registration number",
        "Company registration number (SIRET) **",
        "Establishment identifier (SIRET)",
        "Your company registration number (SIRET)",
        "Company registration number (SIRET) (optional)",
    ],
)
def test_a_wording_matches_the_whole_name_only(shown: str) -> None:
    assert not SIRET.matches(shown)


def test_names_that_contain_each_other_stay_apart() -> None:
    """"Nom" is not "Prénom", "Adresse" not "Adresse électronique de connexion"."""
    assert L.LAST_NAME.matches("Nom *") and not L.LAST_NAME.matches("Prénom")
    assert L.ADDRESS.matches("Adresse") and not L.ADDRESS.matches("Adresse électronique de connexion")
    assert not L.ADDRESS.matches("Address complement")


def test_a_space_before_french_punctuation_is_optional() -> None:
    nouveau = W("New on Chorus Pro?", "Nouveau sur Chorus Pro ?")
    for shown in ("Nouveau sur Chorus Pro ?", "Nouveau sur Chorus Pro?", "Nouveau sur Chorus Pro\u00a0?",
                  "New on Chorus Pro ?"):
        assert nouveau.matches(shown), shown


def test_language_of_and_messages_inside_longer_text() -> None:
    assert L.HOME_CREATE_ACCOUNT.language_of("Créer un compte") == "fr"
    assert L.HOME_CREATE_ACCOUNT.language_of("Create an account *") == "en"
    assert L.HOME_CREATE_ACCOUNT.language_of("Sign up") is None
    alert = "Certains champs sont manquants. Ce SIRET est inconnu de la base de l’INSEE."
    assert L.MSG_SIRET_UNKNOWN.found_in(alert) == "Ce SIRET est inconnu de la base de l’INSEE."
    assert L.MSG_SIRET_CLOSED.found_in(alert) is None


def test_regex_special_characters_are_literal() -> None:
    dotted = W("a.b (c)? [d]", "x+y")
    assert dotted.matches("a.b (c)? [d]") and dotted.matches("x+y")
    assert not dotted.matches("aXb (c)? [d]") and not dotted.matches("xxy")


def test_the_catalogue_covers_both_journeys_in_both_languages() -> None:
    entries = {name: value for name, value in vars(L).items() if isinstance(value, L.Wording)}
    entries.update({f"AREAS[{k}]": v for k, v in L.AREAS.items()})
    for name, wording in entries.items():
        assert wording.en and wording.fr, f"{name} needs an English and a French wording"
    # the guide's journey (sandbox French) and the account-first journey (portal.md A-I)
    assert L.LOGIN_EMAIL.matches("Adresse électronique de connexion")
    assert L.LOGIN_EMAIL.matches("Adresse e-mail de connexion")
    assert L.CREATE_MY_ACCOUNT.matches("Créer mon compte") and L.SEARCH.matches("Rechercher")
    assert L.AREAS["Work invoices"].matches("Factures de travaux")
    assert L.MAIL_ACTIVATION_SUBJECTS == (
        "Chorus Pro - Activate your account", "Chorus Pro - Activation de votre compte"
    )
    assert len(L.SECRET_QUESTIONS) == len(L.SECRET_QUESTION_OPTIONS) == 5


MARKUPS = """
<label for="a">Login email</label><span aria-hidden="true">*</span><input id="a">
<label>Company registration
     number (SIRET) * <input id="b"></label>
<span id="c-label">  Identifier
</span><input id="c" aria-labelledby="c-label">
<input id="d" aria-label="Company name *">
<nav aria-label="Phone number"></nav><label for="e">Phone number</label><input id="e" type="tel">
<input type="submit" value="Validate">
<a role="button" href="#">Accept all</a>
<button role="switch" aria-checked="true" aria-label="Sent requests"></button>
<input type="checkbox" role="switch" aria-label="Work invoices">
<input type="checkbox" id="f"><label for="f">Commitments *</label>
<div role="heading" aria-level="1">Open your working areas</div>
"""


def test_the_browser_matches_the_same_way(browser: Browser) -> None:
    """The catalogue's regexes go to Chromium as they are: every markup of portal.md and its variants."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content(MARKUPS)

    def one(role: Role, wording) -> int:
        return Element(role, wording).locate(page).count()

    for wording in (L.LOGIN_EMAIL, SIRET, L.IDENTIFIER, L.COMPANY_NAME, L.PHONE):
        assert one(Role.field, wording) == 1, wording.name  # never the <nav> that shares a name
    assert one(Role.button, L.VALIDATE) == 1
    assert one(Role.control, L.COOKIES_ACCEPT) == 1
    assert one(Role.heading, L.WORK_AREAS_HEADING) == 1
    for area, on in (("Sent requests", True), ("Work invoices", False), ("Commitments", False)):
        switch = Element(Role.switch, L.AREAS[area]).locate(page)
        assert switch.count() == 1 and switch.is_checked() is on, area
    assert Element(Role.field, SIRET).wording_shown(page) == "Company registration number (SIRET)"
    assert Element(Role.field, SIRET, language="fr").wording_shown(page) is None
    context.close()
