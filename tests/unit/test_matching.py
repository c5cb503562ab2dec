"""Master data vs INSEE autofill: the same company written two ways is no mismatch; a different one is."""
from __future__ import annotations

import pytest

from bot.matching import compare, normalise_city, normalise_company_name, normalise_postal_code
from bot.models import Mismatch


@pytest.mark.parametrize(
    ("master", "insee"),
    [
        ("Dupont & Fils SAS", "DUPONT ET FILS"),
        ("DUPONT ET FILS S.A.S.", "Dupont et Fils"),
        ("Dupont et Fils, société par actions simplifiée", "DUPONT ET FILS SAS"),
        ("SARL Boulangerie Lefèvre", "BOULANGERIE LEFEVRE"),
        ("Boulangerie Lefevre (SARL)", "Société à responsabilité limitée BOULANGERIE LEFÈVRE"),
        ("Ets Martin", "ETABLISSEMENTS MARTIN"),
        ("Établissements Martin SA", "MARTIN"),
        ("L'Atelier du Bois EURL", "L ATELIER DU BOIS"),
        ("L’Atelier-du-Bois", "LATELIER DU BOIS"),
        ("A.B.C. Conseil SASU", "ABC CONSEIL"),
        ("  Transports   Rapides   du Nord ", "TRANSPORTS RAPIDES DU NORD"),
        ("SCI Les Tilleuls", "LES TILLEULS"),
        ("Garage Müller SNC", "GARAGE MULLER"),
    ],
)
def test_same_company_written_differently_matches(master, insee):
    assert normalise_company_name(master) == normalise_company_name(insee)
    assert compare({"company_name": master}, {"company_name": insee}) == []


@pytest.mark.parametrize(
    ("master", "insee"),
    [("Dupont & Fils", "DURAND ET FILS"), ("Martin Transports", "MARTIN TRAVAUX"), ("SAS Alpha", "BETA")],
)
def test_another_company_is_a_mismatch_with_both_original_values(master, insee):
    assert compare({"company_name": master}, {"company_name": insee}) == [
        Mismatch(field="company_name", master=master, insee=insee)
    ]


def test_a_name_that_is_only_a_legal_form_is_kept():
    assert normalise_company_name("SAS") == "sas"


@pytest.mark.parametrize(
    ("master", "insee"),
    [
        ("Saint-Étienne", "SAINT ETIENNE"),
        ("St Etienne Cedex 2", "SAINT-ETIENNE"),
        ("Ste-Foy-lès-Lyon", "SAINTE FOY LES LYON"),
        ("Paris 8e Arrondissement", "PARIS"),
        ("PARIS 08", "Paris"),
        ("Paris 8ème", "PARIS 8"),
        ("Marseille 1er", "MARSEILLE"),
        ("L'Isle-Adam", "L ISLE ADAM"),
        ("Lyon Cedex 03", "LYON 3E ARRONDISSEMENT"),
    ],
)
def test_same_city_written_differently_matches(master, insee):
    assert normalise_city(master) == normalise_city(insee)
    assert compare({"city": master}, {"city": insee}) == []


def test_another_city_is_a_mismatch():
    assert compare({"city": "Saint-Denis"}, {"city": "SAINT-ETIENNE"}) == [
        Mismatch(field="city", master="Saint-Denis", insee="SAINT-ETIENNE")
    ]


@pytest.mark.parametrize(("master", "insee"), [("75 008", "75008"), ("1000", "01000"), ("69003 CEDEX", "69003")])
def test_postal_codes_compare_by_digits(master, insee):
    assert normalise_postal_code(master) == normalise_postal_code(insee)
    assert compare({"postal_code": master}, {"postal_code": insee}) == []


def test_another_postal_code_is_a_mismatch():
    assert compare({"postal_code": "75008"}, {"postal_code": "75009"}) == [
        Mismatch(field="postal_code", master="75008", insee="75009")
    ]


def test_only_fields_given_by_the_master_data_are_compared():
    insee = {"company_name": "DUPONT", "postal_code": "75008", "city": "PARIS"}
    assert compare({"company_name": None, "postal_code": "", "city": "  "}, insee) == []
    assert compare({}, insee) == []


def test_every_field_is_reported_in_order():
    mismatches = compare(
        {"company_name": "Alpha", "postal_code": "13001", "city": "Marseille"},
        {"company_name": "BETA", "postal_code": "75008", "city": "PARIS"},
    )
    assert [m.field for m in mismatches] == ["company_name", "postal_code", "city"]


@pytest.mark.parametrize("masked", ["", "[ND]", None])
def test_empty_insee_value_is_a_mismatch_unless_non_diffusible(masked):
    master = {"postal_code": "75008", "city": "Paris"}
    insee = {"company_name": "DUPONT", "postal_code": masked, "city": masked}
    assert [m.field for m in compare(master, insee)] == ["postal_code", "city"]
    assert compare(master, insee, non_diffusible=True) == []


def test_non_diffusible_still_compares_what_insee_gives():
    assert compare({"company_name": "Alpha"}, {"company_name": "BETA"}, non_diffusible=True) == [
        Mismatch(field="company_name", master="Alpha", insee="BETA")
    ]
