"""Log in, the e-mailed verification code, and the workspace it leads to."""
from __future__ import annotations

from playwright.sync_api import Locator

from bot import labels as L
from bot.models import ALL_AREAS
from bot.pages.base import BasePage


class LoginPage(BasePage):
    """`/login` (or the home page's box): "Login email", "Password", "Log in"."""

    SCREEN = "log in"

    def landmark(self) -> Locator:
        return self.button(L.LOGIN_BUTTON)

    def log_in(self, email: str, password: str) -> "VerificationPage | WorkspacePage":
        """Submit the credentials; return the verification-code page or the workspace."""
        self.field(L.LOGIN_EMAIL).fill(email)
        self.field(L.LOGIN_PASSWORD).fill(password)
        self.press(self.button(L.LOGIN_BUTTON), L.LOGIN_BUTTON)
        verify = VerificationPage(self.page, self.timeout_s)
        workspace = WorkspacePage(self.page, self.timeout_s)
        got = self.wait_for_any({"verify": verify.landmark(), "workspace": workspace.landmark()})
        return verify if got == "verify" else workspace


class VerificationPage(BasePage):
    """`/login/verify`: the 6-digit code mailed at login (two-factor authentication)."""

    SCREEN = "verification code"

    def landmark(self) -> Locator:
        return self.field(L.VERIFY_CODE)

    def submit(self, code: str) -> "WorkspacePage":
        self.field(L.VERIFY_CODE).fill(code)
        self.press(self.button(L.VALIDATE), L.VALIDATE)
        workspace = WorkspacePage(self.page, self.timeout_s)
        self.wait_for_any({"workspace": workspace.landmark()})
        return workspace


class WorkspacePage(BasePage):
    """`/workspace`: the account's open work areas, one tab each."""

    SCREEN = "workspace"

    def landmark(self) -> Locator:
        return self.heading(L.WORKSPACE_HEADING)

    def open_areas(self) -> list[str]:
        """The names of the work-area tabs shown, in page order."""
        return [t.strip() for t in self.page.get_by_role("tab").all_inner_texts() if t.strip() in ALL_AREAS]
