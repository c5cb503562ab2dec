"""Compare the supplier's master data with what INSEE autofilled on step 2.

Why a normalisation and not ``==``: the same company is written "Dupont & Fils SAS" in
an ERP and "DUPONT ET FILS" by INSEE; the same city "St-Étienne Cedex 2" and
"SAINT-ETIENNE". Flagging those would drown the real mismatches (a wrong SIRET typed
for the right company) in noise. So both sides go through the same normalisation:
case, accents, punctuation, apostrophes and hyphens, spaces, legal forms (short and
long), "Ets"/"Établissements", "St"/"Saint", "Cedex", Paris/Lyon/Marseille
arrondissements. Words are finally glued together, so "A.B. Services" equals
"AB SERVICES" and "L'Isle-Adam" equals "LISLE ADAM".
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping

from bot.labels import INSEE_MASKED
from bot.models import Mismatch

FIELDS = ("company_name", "postal_code", "city")

# Legal forms and their long forms, as normalised word sequences; removed wherever they
# stand ("SAS DUPONT", "DUPONT (S.A.S.)", "Dupont société par actions simplifiée").
_LEGAL_FORMS: tuple[tuple[str, ...], ...] = tuple(
    sorted(
        (
            tuple(form.split())
            for form in (
                "sas", "sasu", "sarl", "sa", "eurl", "snc", "sci", "scp", "scop", "scs", "sca",
                "selarl", "selas", "selafa", "gie", "sem", "ei", "eirl",
                "societe par actions simplifiee unipersonnelle",
                "societe par actions simplifiee a associe unique",
                "societe par actions simplifiee",
                "societe a responsabilite limitee",
                "societe a responsabilite limitee unipersonnelle",
                "entreprise unipersonnelle a responsabilite limitee",
                "entreprise individuelle a responsabilite limitee",
                "entreprise individuelle",
                "societe anonyme",
                "societe en nom collectif",
                "societe civile immobiliere",
                "societe civile professionnelle",
                "societe cooperative ouvriere de production",
                "societe cooperative et participative",
                "societe d exercice liberal a responsabilite limitee",
                "groupement d interet economique",
                "ets", "etablissements", "etablissement", "ste", "societe",
            )
        ),
        key=len,
        reverse=True,  # longest first: "societe anonyme" before "societe"
    )
)

_CITY_ALIASES = {"st": "saint", "ste": "sainte"}
# "8", "08", "8e", "8eme", "1er", "1ere" (after accents were removed)
_ORDINAL = re.compile(r"\d{1,2}(?:e|er|ere|eme|em)?")
_APOSTROPHES = "'\u2019\u2018`\u00b4"


def _words(value: str) -> list[str]:
    """Lower-case ASCII words: accents, apostrophes, hyphens and punctuation removed."""
    text = unicodedata.normalize("NFKD", value)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("&", " et ").replace("œ", "oe").replace("æ", "ae")
    text = re.sub(r"(?<=\w)\.(?=\w)", "", text)  # S.A.S. -> SAS, A.B. -> AB
    text = re.sub(f"[{_APOSTROPHES}]", " ", text)
    return re.sub(r"[\W_]+", " ", text).split()


def _strip_legal_forms(words: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(words):
        for form in _LEGAL_FORMS:
            if tuple(words[i : i + len(form)]) == form:
                i += len(form)
                break
        else:
            out.append(words[i])
            i += 1
    return out or words  # a name that is only a legal form stays itself


def normalise_company_name(value: str) -> str:
    """Comparable form of a company name (legal forms and "Ets" removed)."""
    return "".join(_strip_legal_forms(_words(value)))


def normalise_postal_code(value: str) -> str:
    """Digits only; a 4-digit code gets back the leading zero Excel drops ("1000" -> "01000")."""
    digits = re.sub(r"\D", "", value)
    return digits.zfill(5) if len(digits) == 4 else digits


def normalise_city(value: str) -> str:
    """Comparable form of a city: "St-Étienne Cedex 2" -> "saintetienne", "PARIS 08" -> "paris"."""
    words = _words(value)
    if "cedex" in words:
        words = words[: words.index("cedex")]
    words = [_CITY_ALIASES.get(w, w) for w in words if w not in ("arrondissement", "arr")]
    while len(words) > 1 and _ORDINAL.fullmatch(words[-1]):
        words.pop()
    return "".join(words)


_NORMALISERS: dict[str, Callable[[str], str]] = {
    "company_name": normalise_company_name,
    "postal_code": normalise_postal_code,
    "city": normalise_city,
}


def compare(
    master: Mapping[str, str | None],
    insee: Mapping[str, str],
    *,
    non_diffusible: bool = False,
) -> list[Mismatch]:
    """The fields where the master data and INSEE's autofill disagree.

    Only fields the master data gives are compared. An INSEE value that is empty or
    masked ("[ND]") is a mismatch, unless the supplier is non-diffusible: INSEE then
    masks the address on purpose and there is nothing to compare.
    """
    mismatches: list[Mismatch] = []
    for field in FIELDS:
        given = (master.get(field) or "").strip()
        if not given:
            continue
        found = (insee.get(field) or "").strip()
        if found in ("", INSEE_MASKED):
            if not non_diffusible:
                mismatches.append(Mismatch(field=field, master=given, insee=found))
            continue
        normalise = _NORMALISERS[field]
        if normalise(given) != normalise(found):
            mismatches.append(Mismatch(field=field, master=given, insee=found))
    return mismatches
