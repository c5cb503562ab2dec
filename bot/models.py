"""Typed models at the boundaries: the supplier we are asked to register, and its outcome."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    """Report statuses (the contract of shared/spec/cli.md)."""

    activated = "activated"
    pending_activation = "pending_activation"
    exists = "exists"
    email_in_use = "email_in_use"
    invalid_input = "invalid_input"
    insee_mismatch = "insee_mismatch"
    blocked = "blocked"
    captcha_required = "captcha_required"
    failed = "failed"

    @property
    def is_business(self) -> bool:
        """A final outcome that needs a person (exit code 1), never retried."""
        return self in BUSINESS_STATUSES

    @property
    def is_technical(self) -> bool:
        return self in (Status.failed, Status.pending_activation)


BUSINESS_STATUSES = frozenset(
    {
        Status.exists,
        Status.email_in_use,
        Status.invalid_input,
        Status.insee_mismatch,
        Status.blocked,
        Status.captcha_required,
    }
)

# Work areas of step 3 (English labels; the portal's own names).
DEFAULT_AREAS = ("Sent requests", "Issued invoices")
LOCKED_AREAS = ("Sent requests", "Manager activities")
ALL_AREAS = (
    "Sent requests",
    "Issued invoices",
    "Manager activities",
    "Work invoices",
    "Commitments",
    "Received invoices",
)


class Supplier(BaseModel):
    """One supplier to register, as given by the user (CLI flags or a batch row)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    siret: str
    email: str
    first_name: str
    last_name: str
    phone: str
    job_title: str | None = None
    notification_email: str | None = None
    areas: list[str] = Field(default_factory=list)
    non_diffusible: bool = False
    # master data, compared with what INSEE autofills
    company_name: str | None = None
    postal_code: str | None = None
    city: str | None = None


class Mismatch(BaseModel):
    field: str  # "company_name" | "postal_code" | "city"
    master: str
    insee: str


class InseeCheck(BaseModel):
    autofilled: dict[str, str] = Field(default_factory=dict)
    mismatches: list[Mismatch] = Field(default_factory=list)
    action: str | None = None  # the INSEE_MISMATCH policy applied when mismatches exist


class RegistrationResult(BaseModel):
    """One row of the report. Never holds a password, an answer, a token or a link."""

    siret: str
    email: str
    status: Status
    message: str = ""
    insee: InseeCheck | None = None
    areas: list[str] = Field(default_factory=list)
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    trace: str | None = None
    # where it failed, so nobody needs to read a log (issue "traces")
    screen: str | None = None
    step: str | None = None
    artifacts: list[str] = Field(default_factory=list)
