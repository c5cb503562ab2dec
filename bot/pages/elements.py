"""What a screen is made of: elements found by role and accessible name, whatever the markup.

Why: the live portal rebuilds its pages without notice (a `<label for>` becomes an
`aria-labelledby`, a `<button>` an `<input type="submit">`, a switch a checkbox). A person
finds "the field labelled Company name" or "the Validate button" whatever the HTML under
it; so does the bot: every element is a role plus a catalogue entry (bot/labels.py), and
`locate` turns that into a Playwright locator that accepts every markup a person would.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from urllib.parse import urlparse

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page

from bot.labels import Language, Wording
from bot.secrets import registry

# What `get_by_label` may answer that a person would type into or pick from (not a nav or a
# button that happens to carry an aria-label).
_FORM_CONTROLS = (
    "input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea,"
    " [role=textbox], [role=combobox], [role=spinbutton], [role=searchbox]"
)


class Role(StrEnum):
    """How a person would describe an element; each covers every markup of that kind."""

    field = "field"  # any form control by its label: <label for>, wrapping label, aria-labelledby, aria-label
    button = "button"  # <button>, <input type=submit|button>, role=button
    link = "link"
    control = "link or button"  # the same action offered either way (language switch, "Create an account")
    switch = "switch"  # role=switch or a checkbox; state from aria-checked, else the checked property
    checkbox = "checkbox"  # located as a switch: the two are one thing to a person
    heading = "heading"  # h1-h6 or role=heading
    text = "text"  # a sentence or message, found inside any element's text
    dialog = "dialog or region"
    tablist = "tab list"


@dataclass(frozen=True)
class Element:
    """One thing a screen holds: a role and its catalogue wordings (maybe of one language)."""

    role: Role
    wording: Wording
    language: Language | None = None

    @property
    def name(self) -> str:
        return self.wording.name

    def __str__(self) -> str:
        return f"{self.role} '{self.name}'"

    def in_language(self, language: Language) -> "Element":
        """The same element, matched only by its wordings in `language`."""
        return replace(self, language=language)

    def locate(self, page: Page) -> Locator:
        """Every element of the page this one could be (visible or not)."""
        if self.role is Role.text:
            return page.get_by_text(self.wording.search(self.language))
        return _by_name(page, self.role, self.wording.pattern(self.language))

    def wording_shown(self, page: Page) -> str | None:
        """The catalogue wording of the visible element found, or None when none is visible."""
        for text in self.wording.of(self.language):
            one = replace(self, wording=Wording(en=(text,), fr=()), language=None)
            if one.locate(page).filter(visible=True).count():
                return text
        return None


def _by_name(page: Page, role: Role, name: re.Pattern[str]) -> Locator:
    if role is Role.field:
        return page.get_by_label(name).and_(page.locator(_FORM_CONTROLS))
    if role is Role.control:
        return page.get_by_role("button", name=name).or_(page.get_by_role("link", name=name))
    if role in (Role.switch, Role.checkbox):
        return page.get_by_role("switch", name=name).or_(page.get_by_role("checkbox", name=name))
    if role is Role.dialog:
        return page.get_by_role("dialog", name=name).or_(page.get_by_role("region", name=name))
    aria_role = {Role.button: "button", Role.link: "link", Role.heading: "heading", Role.tablist: "tablist"}[role]
    return page.get_by_role(aria_role, name=name)  # type: ignore[arg-type]


# ---- what a page shows, for error messages ------------------------------------------------
_SNAPSHOT_LINE = re.compile(r'^\s*- (\w+) "((?:[^"\\]|\\.)*)"')
_SUMMARY_GROUPS = {
    "heading": "headings",
    "button": "buttons",
    "textbox": "fields",
    "combobox": "fields",
    "checkbox": "fields",
    "switch": "fields",
    "spinbutton": "fields",
    "searchbox": "fields",
    "radio": "fields",
}
_PER_GROUP = 8


def page_summary(page: Page) -> str:
    """What a person sees on the page, one line: its path, headings, field labels and buttons.

    Read from Playwright's accessibility snapshot, the same names the locators match, so a
    renamed field shows under its new name right beside the one that is missing.
    """
    try:
        path = urlparse(page.url).path or "/"
        snapshot = page.locator("body").aria_snapshot(timeout=2000)
    except PlaywrightError:
        return "a closed, crashed or blank page"
    groups: dict[str, list[str]] = {"headings": [], "fields": [], "buttons": []}
    for line in snapshot.splitlines():
        match = _SNAPSHOT_LINE.match(line)
        group = _SUMMARY_GROUPS.get(match.group(1)) if match else None
        if match and group:
            name = " ".join(match.group(2).replace('\\"', '"').split())
            if name and name not in groups[group]:
                groups[group].append(name)
    parts = [path]
    for group, names in groups.items():
        if names:
            shown = ", ".join(f"'{_short(n)}'" for n in names[:_PER_GROUP])
            parts.append(f"{group} {shown}{', …' if len(names) > _PER_GROUP else ''}")
    if len(parts) == 1:
        parts.append("no heading, field or button")
    return registry.mask("; ".join(parts))


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
