"""Home page and what every page has (spec §1 and "Screens"): the cookie banner that covers the
page until answered, the log-in box, the sign-up link, and the CEA trap that counts its hits.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from helpers import open_english


def test_the_cookie_banner_covers_the_validate_button_until_answered(page: Page, portal) -> None:
    page.goto("/account/new?lang=en")
    banner = page.get_by_role("dialog", name="Cookie management")
    expect(banner).to_be_visible()
    expect(banner.get_by_role("button")).to_have_text(["Accept all", "Refuse all"])
    validate = page.get_by_role("button", name="Validate")
    expect(validate).to_be_visible()
    with pytest.raises(PlaywrightError, match="intercepts pointer events"):
        validate.click(trial=True, timeout=1500)

    banner.get_by_role("button", name="Accept all").click()
    expect(banner).to_have_count(0)
    expect(page).to_have_url(f"{portal.url}/account/new?lang=en")  # back to the page the visitor was on
    validate.click(trial=True, timeout=1500)
    page.get_by_role("link", name="Chorus Pro", exact=True).click()  # the answer is remembered on every page
    expect(page.get_by_role("heading", name="Welcome to Chorus Pro")).to_be_visible()
    expect(banner).to_have_count(0)


def test_refusing_the_cookies_also_removes_the_banner(page: Page, portal) -> None:
    page.goto("/?lang=en")
    page.get_by_role("button", name="Refuse all").click()
    expect(page.get_by_role("dialog", name="Cookie management")).to_have_count(0)
    page.get_by_role("link", name="Create an account").click(timeout=2000)
    expect(page.get_by_label("Login email")).to_be_visible()


def test_home_has_the_log_in_box_the_sign_up_link_and_the_cea_banner(page: Page, portal, sandbox) -> None:
    open_english(page, "/")
    expect(page).to_have_title("Welcome to Chorus Pro - Chorus Pro")
    login = page.get_by_role("region", name="Log in")
    expect(login.get_by_label("Login email")).to_have_attribute("aria-required", "true")
    expect(login.get_by_label("Password")).to_have_attribute("type", "password")
    expect(login.get_by_role("button", name="Log in")).to_be_visible()
    new = page.get_by_role("region", name="New on Chorus Pro?")
    expect(new.get_by_role("link", name="Create an account")).to_have_attribute("href", "/account/new")
    cea = page.get_by_role("link", name="CEA suppliers: log in to the CEA account")
    expect(cea).to_have_attribute("href", "/cea/login")
    expect(page.get_by_role("navigation", name="Language").get_by_role("link")).to_have_text(["FR", "EN"])
    expect(page.locator("form input[name=csrf_token]")).to_have_count(1)  # every form carries a CSRF token
    (session,) = [c for c in page.context.cookies() if c["name"] == "cp_session"]
    assert (session["expires"], session["httpOnly"]) == (-1, True)  # a session cookie, out of scripts' reach
    assert portal.state()["cea_hits"] == 0  # showing the banner is not a hit


@pytest.mark.cea_allowed
def test_the_cea_trap_counts_every_hit(page: Page, portal, mailbox_address: str) -> None:
    open_english(page, "/")
    page.get_by_role("link", name="CEA suppliers: log in to the CEA account").click()
    expect(page.get_by_role("heading", name="CEA account")).to_be_visible()
    assert portal.state()["cea_hits"] == 1
    page.get_by_label("Login email").fill(mailbox_address)
    page.get_by_label("Password").fill("Whatever-2024!")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Access restricted to CEA staff.")
    state = portal.state()
    assert state["cea_hits"] == 2
    assert [(h["method"], h["path"]) for h in state["hits"] if h["path"].startswith("/cea")] == [
        ("GET", "/cea/login"), ("POST", "/cea/login")]


def test_an_unknown_page_is_a_404_portal_page(page: Page, portal) -> None:
    response = page.goto("/no/such/page?lang=en")
    assert response is not None and response.status == 404
    expect(page.get_by_role("alert")).to_have_text("The page you requested does not exist.")
