"""SIRET, SIREN and email pre-flight checks: what a user with a typo in a batch file sees."""
from __future__ import annotations

import pytest

from bot.errors import BusinessOutcome
from bot.models import Status
from bot.siret import check_email, check_not_blocked, check_siret, normalise_siret, siren_of

VALID = "73282932000074"  # a real, Luhn-valid SIRET
CEA_SIRET = "77568501900306"  # a CEA establishment (SIREN 775 685 019), as in fixtures/insee


@pytest.mark.parametrize(
    "raw",
    ["73282932000074", "732 829 320 00074", "732.829.320.00074", "732\u00a0829\u00a0320\u00a000074",
     "732\u202f829\u202f320\u202f00074", "  73282932000074\t", 73282932000074],
)
def test_written_forms_of_one_siret_normalise_to_its_14_digits(raw):
    assert normalise_siret(raw) == VALID
    assert check_siret(raw) == VALID


@pytest.mark.parametrize("raw", ["123", "7328293200007", "732829320000745", "7328293200007A", "", "SIRET"])
def test_wrong_length_or_letters_say_14_digits(raw):
    with pytest.raises(BusinessOutcome) as caught:
        check_siret(raw)
    assert caught.value.status is Status.invalid_input
    assert caught.value.message == f"SIRET '{raw}' must contain 14 digits"


def test_a_typo_fails_the_checksum_with_the_normalised_number():
    with pytest.raises(BusinessOutcome) as caught:
        check_siret("732 829 320 00075")
    assert caught.value.status is Status.invalid_input
    assert str(caught.value) == "SIRET 73282932000075 fails its checksum"


def test_la_poste_establishments_follow_their_own_checksum():
    assert check_siret("35600000049837") == "35600000049837"  # sum of digits % 5 == 0


def test_siren_is_the_first_nine_digits():
    assert siren_of("732 829 320 00074") == "732829320"


@pytest.mark.parametrize("raw", ["ap@ssc.example", " Jean.Dupont+chorus@Example.FR ", "a_b-c@sub.domain.co.uk"])
def test_valid_emails_come_back_stripped(raw):
    assert check_email(raw) == raw.strip()


@pytest.mark.parametrize(
    "raw", ["", "ap", "ap@", "@ssc.example", "ap@ssc", "ap@@ssc.example", "a p@ssc.example",
            "ap.@ssc.example", "a..p@ssc.example", "ap@-ssc.example", "ap@ssc.example."],
)
def test_invalid_emails_are_invalid_input_with_the_value(raw):
    with pytest.raises(BusinessOutcome) as caught:
        check_email(raw)
    assert caught.value.status is Status.invalid_input
    assert caught.value.message == f"email '{raw.strip()}' is not a valid email address"


def test_the_cea_is_blocked_with_the_guides_warning():
    with pytest.raises(BusinessOutcome) as caught:
        check_not_blocked("775 685 019 00306", ["775685019"])
    assert caught.value.status is Status.blocked
    assert caught.value.message == (
        "SIREN 775685019 is on CHORUS_BLOCKED_SIRENS (the CEA): register the supplier's own company, "
        "never the CEA's"
    )


def test_another_blocked_siren_names_the_setting():
    with pytest.raises(BusinessOutcome) as caught:
        check_not_blocked(VALID, ["775685019", "732829320"])
    assert caught.value.status is Status.blocked
    assert "SIREN 732829320 is on CHORUS_BLOCKED_SIRENS" in caught.value.message


def test_a_supplier_not_on_the_list_passes():
    assert check_not_blocked(VALID, ["775685019"]) is None
    assert check_not_blocked(CEA_SIRET, []) is None
