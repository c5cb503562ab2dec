"""The account-first journey's sign-up (portal.md, sections B and C): the person's account
first, the structure only after the first log-in.

B is one form with a captcha: the bot fills the form, saves the captcha image for a person
(bot/captcha.py) and types the characters that person gives; "Create my account" stays
disabled until "Validate the captcha" succeeded. C replaces B in place."""
from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError

from bot import labels as L
from bot.browser_loop import expect
from bot.errors import TechnicalFault
from bot.pages.base import BasePage, raise_for_messages
from bot.pages.elements import Element, Role
from bot.secrets import first_line


class PersonalInfoPage(BasePage):
    """"Personal information": login email, names, contact email, terms, "Create my account"."""

    SCREEN = "personal information"
    EMAIL = Element(Role.field, L.LOGIN_EMAIL)
    FIRST_NAME = Element(Role.field, L.FIRST_NAME)
    LAST_NAME = Element(Role.field, L.LAST_NAME)
    PHONE = Element(Role.field, L.PHONE)
    CONTACT_EMAIL = Element(Role.field, L.CONTACT_EMAIL)
    TERMS = Element(Role.checkbox, L.ACCEPT_TERMS)
    CREATE = Element(Role.button, L.CREATE_MY_ACCOUNT)
    REQUIRED = (EMAIL, FIRST_NAME, LAST_NAME, CONTACT_EMAIL, TERMS, CREATE)
    # the captcha, when the portal shows one
    CAPTCHA_FIELD = Element(Role.field, L.CAPTCHA_FIELD)
    CAPTCHA_VALIDATE = Element(Role.button, L.VALIDATE_CAPTCHA)
    CAPTCHA_ANOTHER = Element(Role.control, L.CAPTCHA_ANOTHER)
    CAPTCHA_OK = Element(Role.text, L.CAPTCHA_VALIDATED)

    def fill(
        self, email: str, first_name: str, last_name: str, phone: str | None, contact_email: str | None
    ) -> "PersonalInfoPage":
        """Type the person's details; the contact email (pre-filled with the login email) when given."""
        self.find(self.EMAIL).fill(email)
        self.find(self.FIRST_NAME).fill(first_name)
        self.find(self.LAST_NAME).fill(last_name)
        if phone and self.shows(self.PHONE):
            self.find(self.PHONE).fill(phone)
        self.find(self.CONTACT_EMAIL).fill(contact_email or email)
        self.find(self.TERMS).check()
        return self

    # ---- the captcha ---------------------------------------------------------------------------
    def captcha_shown(self) -> bool:
        """The form asks for a captcha that has not been validated yet."""
        return self.shows(self.CAPTCHA_FIELD)

    def captcha_image(self):
        """The captcha's picture: the image (or canvas) next to the captcha's field."""
        field = self.find(self.CAPTCHA_FIELD).first
        box = field.locator("xpath=ancestor::*[.//img or .//canvas][1]")
        return box.locator("img, canvas").first

    def save_captcha(self, path: Path) -> Path:
        """A picture of the captcha as a person sees it (PNG), for the person who answers it."""
        try:
            self.captcha_image().screenshot(path=str(path), timeout=self.timeout_ms)
        except PlaywrightError as exc:
            raise TechnicalFault(f"{self.SCREEN}: could not capture the captcha image ({first_line(exc)})",
                                 screen=self.SCREEN) from None
        return path

    def answer_captcha(self, characters: str) -> bool:
        """Type the characters and press "Validate the captcha": True when the portal took them.

        A wrong answer brings a new image (and the portal's "do not match" alert): False."""
        before = self.captcha_image().get_attribute("src") or ""
        self.find(self.CAPTCHA_FIELD).fill(characters)
        self.find(self.CAPTCHA_VALIDATE).first.click()
        ok = self.find(self.CAPTCHA_OK)
        changed = self.captcha_image_changed(before)
        try:
            expect(ok.or_(changed).first).to_be_visible(timeout=self.timeout_ms)
        except AssertionError:
            raise TechnicalFault(f"{self.SCREEN}: no answer to 'Validate the captcha'", screen=self.SCREEN) from None
        if self.shows(self.CAPTCHA_OK):
            return True
        return False

    def captcha_image_changed(self, before: str):
        """The captcha image, once it is another one than `before` (its source changed)."""
        image = self.captcha_image()
        if not before:
            return image.and_(self.page.locator(":not(img[src=''])"))
        quoted = before.replace("\\", "\\\\").replace('"', '\\"')
        return image.and_(self.page.locator(f':not([src="{quoted}"])'))

    def another_captcha(self) -> None:
        """"Another image": a new captcha, the typed values kept where the portal keeps them."""
        before = self.captcha_image().get_attribute("src") or ""
        self.find(self.CAPTCHA_ANOTHER).first.click()
        try:
            expect(self.captcha_image_changed(before)).to_be_visible(timeout=self.timeout_ms)
        except AssertionError:
            raise TechnicalFault(f"{self.SCREEN}: 'Another image' gave no new image", screen=self.SCREEN) from None
        self.assert_arrived()

    def create(self) -> "AccountRequestedPage":
        """Press "Create my account": the account is created and its activation mail sent (C)."""
        if self.find(self.CREATE).first.is_disabled():
            raise_for_messages(self.page, self.SCREEN)
            raise TechnicalFault(f"{self.SCREEN}: 'Create my account' is still disabled", screen=self.SCREEN)
        return self.press(self.CREATE, AccountRequestedPage)


class AccountRequestedPage(BasePage):
    """C: "Your account has been created", the activation mail sent to the login email."""

    SCREEN = "account created"
    CREATED = Element(Role.text, L.ACCOUNT_CREATED)
    MAIL_SENT = Element(Role.text, L.ACCOUNT_MAIL_SENT)
    REQUIRED = (CREATED, MAIL_SENT)

    def mail_sent_to(self, email: str) -> bool:
        sentence = re.compile(rf"{L.ACCOUNT_MAIL_SENT.search().pattern}\s*{re.escape(email)}", re.IGNORECASE)
        return self.page.get_by_text(sentence).filter(visible=True).count() > 0
