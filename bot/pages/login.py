"""Log in, the e-mailed verification code, and the workspace it leads to."""
from __future__ import annotations

from bot import labels as L
from bot.models import ALL_AREAS
from bot.pages.base import BasePage
from bot.pages.elements import Element, Role


class LoginPage(BasePage):
    """`/login` (or the home page's box; the identity provider's page in the account-first
    journey): the email, "Password", "Log in"."""

    SCREEN = "log in"
    EMAIL = Element(Role.field, L.LOGIN_FORM_EMAIL)
    PASSWORD = Element(Role.field, L.PASSWORD)
    LOG_IN = Element(Role.button, L.LOGIN_BUTTON)
    REQUIRED = (EMAIL, PASSWORD, LOG_IN)

    def log_in(self, email: str, password: str, *after: type[BasePage]) -> BasePage:
        """Submit the credentials; return the verification-code page or one of `after` (by
        default the workspace). A refused password raises BusinessOutcome `failed`."""
        self.find(self.EMAIL).fill(email)
        self.find(self.PASSWORD).fill(password)
        return self.press(self.LOG_IN, VerificationPage, *(after or (WorkspacePage,)))


class VerificationPage(BasePage):
    """`/login/verify`: the 6-digit code mailed at login (two-factor authentication)."""

    SCREEN = "verification code"
    CODE = Element(Role.field, L.VERIFY_CODE)
    VALIDATE = Element(Role.button, L.VALIDATE)
    REQUIRED = (CODE, VALIDATE)

    def submit(self, code: str, *after: type[BasePage]) -> BasePage:
        """Type the mailed code and "Validate"; one of `after` (by default the workspace)."""
        self.find(self.CODE).fill(code)
        return self.press(self.VALIDATE, *(after or (WorkspacePage,)))


class WorkspacePage(BasePage):
    """`/workspace`: the account's open work areas, one tab each."""

    SCREEN = "workspace"
    AREAS = Element(Role.tablist, L.WORKSPACE_AREAS)
    LOG_OUT = Element(Role.control, L.LOG_OUT)
    REQUIRED = (AREAS, LOG_OUT)

    def open_areas(self) -> list[str]:
        """The canonical names of the work-area tabs shown, in page order."""
        tabs = [t.strip() for t in self.find(self.AREAS).get_by_role("tab").all_inner_texts()]
        return [name for tab in tabs for name in ALL_AREAS if L.AREAS[name].matches(tab)]
