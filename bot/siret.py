"""Pre-flight checks of a supplier's identifiers, before the browser opens.

Why here and not on the portal: a bad SIRET, a bad email or the CEA's SIREN caught
locally costs nothing and gives the user a precise message ("fails its checksum"),
where the portal only says "The SIRET must contain 14 digits." after a page load.
Every failure is a final ``BusinessOutcome`` (never retried).
"""
from __future__ import annotations

import re

from stdnum.exceptions import ValidationError
from stdnum.fr import siret as stdnum_siret

from bot.errors import BusinessOutcome
from bot.models import Status
from bot.settings import CEA_SIREN, env_name

# Separators people and spreadsheets put in a SIRET: "123 456 789 00012", "123.456.789.00012",
# French Excel's (narrow) no-break spaces. str.split() already covers every Unicode space.
_SEPARATORS = re.compile(r"[\s.\u00a0\u202f]+")

# A pragmatic email syntax: what real mail systems accept, and a dotted domain (a supplier's
# login email is on the Internet). Stricter than RFC 5322 on purpose (no quoted local parts).
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def normalise_siret(raw: str | int) -> str:
    """The SIRET without spaces, dots or no-break spaces (no validation)."""
    return _SEPARATORS.sub("", str(raw))


def check_siret(raw: str | int) -> str:
    """The normalised SIRET, or ``BusinessOutcome(invalid_input)`` saying what is wrong."""
    siret = normalise_siret(raw)
    if not (siret.isascii() and siret.isdigit() and len(siret) == 14):
        raise BusinessOutcome(Status.invalid_input, f"SIRET '{str(raw).strip()}' must contain 14 digits")
    try:
        stdnum_siret.validate(siret)
    except ValidationError:
        raise BusinessOutcome(Status.invalid_input, f"SIRET {siret} fails its checksum") from None
    return siret


def siren_of(siret: str | int) -> str:
    """The 9-digit SIREN (the company) of a SIRET (one of its establishments); checks it first."""
    return check_siret(siret)[:9]


def check_email(raw: str) -> str:
    """The email without surrounding blanks, or ``BusinessOutcome(invalid_input)``."""
    email = (raw or "").strip()
    if len(email) > 254 or not _EMAIL.fullmatch(email) or len(email.split("@")[0]) > 64:
        raise BusinessOutcome(Status.invalid_input, f"email '{email}' is not a valid email address")
    return email


def check_not_blocked(siret: str | int, blocked_sirens: list[str] | tuple[str, ...]) -> None:
    """Refuse a SIRET whose company must never be registered (the CEA, by default).

    The guide's warning: CEA suppliers must create their own company, never use the
    CEA's account. A supplier file holding the CEA's SIRET is a data-entry error.
    """
    siren = siren_of(siret)
    if siren not in blocked_sirens:
        return
    setting = env_name("blocked_sirens")
    if siren == CEA_SIREN:
        message = (
            f"SIREN {siren} is on {setting} (the CEA): register the supplier's own company, "
            "never the CEA's"
        )
    else:
        message = f"SIREN {siren} is on {setting}: this company must not be registered"
    raise BusinessOutcome(Status.blocked, message)
