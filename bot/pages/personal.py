"""The account-first journey's sign-up form (portal.md, section B): the person's account first,
the structure only after the first log-in. `check-site` recognises it after "Create an account"."""
from __future__ import annotations

from bot import labels as L
from bot.pages.base import BasePage
from bot.pages.elements import Element, Role


class PersonalInfoPage(BasePage):
    """"Personal information": login email, names, contact email, terms, "Create my account"."""

    SCREEN = "personal information"
    EMAIL = Element(Role.field, L.LOGIN_EMAIL)
    FIRST_NAME = Element(Role.field, L.FIRST_NAME)
    LAST_NAME = Element(Role.field, L.LAST_NAME)
    CONTACT_EMAIL = Element(Role.field, L.CONTACT_EMAIL)
    TERMS = Element(Role.checkbox, L.ACCEPT_TERMS)
    CREATE = Element(Role.button, L.CREATE_MY_ACCOUNT)
    REQUIRED = (EMAIL, FIRST_NAME, LAST_NAME, CONTACT_EMAIL, TERMS, CREATE)
