"""What both sign-up journeys share: the attempt's record, the pre-flight of the input, and
the INSEE check of the structure's autofilled fields against the supplier's master data."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from loguru import logger

from bot.errors import BusinessOutcome, TechnicalFault
from bot.matching import compare
from bot.models import ALL_AREAS, InseeCheck, Status, Supplier
from bot.pages.activation import ExpiredLinkPage
from bot.pages.base import BasePage
from bot.secrets import registry
from bot.settings import InseeMismatchPolicy, Settings
from bot.siret import check_email, check_not_blocked, check_siret
from bot.tracing import TraceRecorder


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Attempt:
    """What one attempt learnt so far, for the result whatever way it ends."""

    supplier: Supplier
    started_at: datetime
    attempts: int = 1
    step: str = "pre-flight"
    insee: InseeCheck | None = None
    areas: list[str] = field(default_factory=list)
    recorder: TraceRecorder | None = None  # set when the browser part starts

    def enter(self, step: str) -> None:
        """Note (and log) the screen or phase the attempt is at, for the result and the logs."""
        self.step = step
        logger.info(f"at {step}")


class LinkMailbox(Protocol):
    def wait_for_link(self, email: str, since: datetime, timeout_s: float) -> str | None: ...


def no_activation_mail(timeout_s: float) -> str:
    """The result's message when the activation mail did not come in time."""
    return f"no activation mail within {timeout_s:g} s; the account waits for activation"


def follow_activation_link(
    mailbox: LinkMailbox, attempt: _Attempt, since: datetime, timeout_s: float,
    open_screen: Callable[[str], BasePage], link: str | None = None,
) -> BasePage | None:
    """The screen that the activation mail's link opens (`link`, else the first mail since
    `since`); None when no mail came within `timeout_s`.

    An expired link (limited validity) asks the portal for a new mail, once, and follows that
    one; a second expired link is a technical fault.
    """
    resent = False
    while True:
        attempt.enter("activation mail")
        if link is None:
            link = mailbox.wait_for_link(attempt.supplier.email, since, timeout_s)
            if link is None:
                return None
        registry.add(link, "activation link")
        attempt.enter("activation")
        screen, link = open_screen(link), None
        if not isinstance(screen, ExpiredLinkPage):
            return screen
        if resent:
            raise TechnicalFault("the new activation link has expired too", screen=screen.SCREEN)
        logger.info("the activation link has expired: asking for a new mail")
        since, resent = _now(), True
        screen.send_new_mail()


def preflight(supplier: Supplier, settings: Settings) -> Supplier:
    """Check the input before any browser opens; the supplier with normalised values.

    Raises BusinessOutcome (invalid_input or blocked) for a bad SIRET (format or
    checksum), a bad email, a blocked SIREN (the CEA by default) or an unknown area.
    """
    siret = check_siret(supplier.siret)
    email = check_email(supplier.email)
    notification = check_email(supplier.notification_email) if supplier.notification_email else None
    check_not_blocked(siret, settings.blocked_sirens)
    by_lower = {name.casefold(): name for name in ALL_AREAS}
    areas = []
    for name in supplier.areas:
        canonical = by_lower.get(name.strip().casefold())
        if canonical is None:
            raise BusinessOutcome(
                Status.invalid_input, f"unknown work area '{name}' (known: {', '.join(ALL_AREAS)})"
            )
        if canonical not in areas:
            areas.append(canonical)
    return supplier.model_copy(
        update={"siret": siret, "email": email, "notification_email": notification, "areas": areas}
    )


class CompanyForm(Protocol):
    """A screen with the structure's INSEE-autofilled fields (guide's step 2, today's G)."""

    def read_company(self) -> dict[str, str]: ...
    def address_masked(self, company: dict[str, str]) -> bool: ...
    def fill_company(self, **values: str | None) -> object: ...
    def set_non_diffusible(self) -> object: ...


def check_insee(form: CompanyForm, attempt: _Attempt, settings: Settings) -> None:
    """Compare what the portal autofilled from INSEE with the master data, apply
    CHORUS_INSEE_MISMATCH, and tick "INSEE not diffusible" when asked or when INSEE masks
    the address. Records the comparison on the attempt (the report's INSEE column)."""
    supplier = attempt.supplier
    company = form.read_company()
    non_diffusible = supplier.non_diffusible or form.address_masked(company)
    master = {"company_name": supplier.company_name, "postal_code": supplier.postal_code, "city": supplier.city}
    mismatches = compare(master, company, non_diffusible=non_diffusible)
    attempt.insee = InseeCheck(autofilled=company, mismatches=mismatches)
    if mismatches:
        policy = settings.insee_mismatch
        attempt.insee.action = policy.value
        what = "; ".join(f"{m.field}: master '{m.master}' vs INSEE '{m.insee}'" for m in mismatches)
        if policy is InseeMismatchPolicy.fail:
            raise BusinessOutcome(Status.insee_mismatch, f"INSEE data differs from the master data: {what}")
        if policy is InseeMismatchPolicy.overwrite:
            logger.warning(f"INSEE data differs, overwritten with the master data: {what}")
            form.fill_company(**{m.field: m.master for m in mismatches})
        else:
            logger.warning(f"INSEE data differs (kept INSEE's): {what}")
    if non_diffusible:
        why = "asked" if supplier.non_diffusible else "INSEE masks the address"
        logger.info(f"ticking 'INSEE not diffusible' ({why})")
        form.set_non_diffusible()
