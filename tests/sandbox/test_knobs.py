"""The sandbox's knobs and test API (spec "Test API", §8, §9): maintenance, session expiry,
latency, error_rate and fail_next (500 "An unexpected error occurred."), mail delay, duplicate and
phishing mails, and `/_sandbox/reset` / `/_sandbox/knobs` themselves.
"""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page, Route, expect

from helpers import (BOULANGERIE, EXISTING, MAIL_FROM, SUBJECT_EN, account_of, activate, create_account, has_account,
                     mails_to, open_english, read_mails, submit_step1, to_step2, to_step3)

UNEXPECTED = "An unexpected error occurred."
MAINTENANCE = "Chorus Pro is currently under maintenance. Please try again later."
DEFAULT_KNOBS = {
    "latency_ms": 0, "autofill_delay_ms": 300, "error_rate": {}, "fail_next": {}, "mail_delay_ms": 0,
    "mail_duplicate": False, "phishing": False, "mail_suppress": False, "token_ttl_s": 3600, "session_ttl_s": 1800,
    "captcha": False, "otp": False, "maintenance": False, "markup": "standard", "language_switch": True,
}


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def test_maintenance_answers_503_with_its_message_on_every_page(page: Page, portal, sandbox) -> None:
    open_english(page, "/")
    portal.knobs(maintenance=True)
    response = page.goto("/account/new")
    assert response is not None and response.status == 503
    expect(page.get_by_role("alert")).to_have_text(MAINTENANCE)
    expect(page.get_by_label("Login email")).to_have_count(0)

    with httpx.Client(base_url=sandbox.url, cookies={"cp_lang": "en"}) as client:
        for path in ("/", "/account/structure", "/account/work-areas", "/account/activate?token=x", "/login",
                     "/workspace", "/cea/login", "/no/such/page"):
            answer = client.get(path)
            assert (answer.status_code, MAINTENANCE in answer.text) == (503, True), path
        assert client.post("/account/new", data={"email": "a@b.example"}).status_code == 503
        french = httpx.get(sandbox.url + "/")  # no language chosen: French, as the portal's default
        assert "Chorus Pro est actuellement en maintenance. Veuillez réessayer plus tard." in french.text
    assert portal.state()["knobs"]["maintenance"] is True  # the test API stays up
    assert portal.state()["cea_hits"] == 1  # the maintenance page still counts a CEA hit
    portal.knobs(maintenance=False)
    portal.reset()  # forget that CEA hit: this test opened it on purpose, through httpx

    page.reload()
    expect(page.get_by_label("Login email")).to_be_visible()


def test_an_expired_session_sends_a_wizard_page_home_with_its_message(page: Page, portal, sandbox,
                                                                      mailbox_address: str) -> None:
    to_step2(page, mailbox_address)

    def expire_for_this_post_only(route: Route) -> None:
        portal.knobs(session_ttl_s=0.001)  # the step-2 page was loaded longer ago than that
        answer = route.fetch(max_redirects=0)  # the portal's answer: a redirect home, with a new session
        portal.knobs(session_ttl_s=1800)  # the new session lives on for the home page
        route.fulfill(response=answer)

    page.route(f"{sandbox.url}/account/structure", expire_for_this_post_only)
    page.get_by_role("button", name="Validate").click()
    expect(page).to_have_url(f"{sandbox.url}/")
    expect(page.get_by_role("alert")).to_have_text("Your session has expired.")
    assert not has_account(portal.state(), mailbox_address)
    page.unroute(f"{sandbox.url}/account/structure")
    page.goto("/account/structure")  # the wizard's progress went with the session
    expect(page.get_by_label("Company registration number (SIRET)")).to_be_visible()


def test_latency_slows_every_page(page: Page, portal) -> None:
    portal.knobs(latency_ms=300)
    open_english(page, "/")
    hits = portal.state()["hits"]
    assert [(h["method"], h["path"]) for h in hits] == [("GET", "/"), ("GET", "/"), ("POST", "/consent"),
                                                        ("GET", "/")]
    assert all(h["duration_ms"] >= 300 * 0.7 for h in hits), hits  # 300 ms ± 30 % jitter
    assert all(_at(h["time"]).tzinfo is not None for h in hits)


def test_error_rate_answers_500_with_the_portals_message(page: Page, portal, sandbox, mailbox_address: str) -> None:
    portal.knobs(error_rate={"/account/structure": 1.0})
    open_english(page, "/account/new")
    with page.expect_response(f"{sandbox.url}/account/structure") as answer:
        submit_step1(page, mailbox_address, BOULANGERIE)
    assert answer.value.status == 500
    expect(page.get_by_role("alert")).to_have_text(UNEXPECTED)
    expect(page.get_by_role("heading", name="Error")).to_be_visible()
    assert "Traceback" not in page.content()
    page.goto("/")  # other paths are not affected
    expect(page.get_by_role("heading", name="Welcome to Chorus Pro")).to_be_visible()
    assert ("GET", "/account/structure", 500) in [(h["method"], h["path"], h["status"])
                                                   for h in portal.state()["hits"]]


def test_a_failing_insee_lookup_shows_its_message_and_frees_the_form(page: Page, portal,
                                                                     mailbox_address: str) -> None:
    portal.knobs(error_rate={"/account/structure/insee": 1.0})
    open_english(page, "/account/new")
    submit_step1(page, mailbox_address, BOULANGERIE)
    expect(page.get_by_role("alert")).to_have_text("The INSEE data could not be retrieved.")
    expect(page.locator("#autofill-spinner")).to_have_count(0)
    expect(page.get_by_label("Company name")).to_be_enabled()
    expect(page.get_by_label("Company name")).to_have_value("")


def test_fail_next_fails_exactly_the_next_posts_then_lets_them_through(page: Page, portal, sandbox,
                                                                        mailbox_address: str) -> None:
    to_step3(page, mailbox_address)
    assert portal.knobs(fail_next={"/account/work-areas": 2})["fail_next"] == {"/account/work-areas": 2}
    for _ in range(2):
        page.get_by_role("button", name="Validate").click()
        expect(page.get_by_role("alert")).to_have_text(UNEXPECTED)
        assert not has_account(portal.state(), mailbox_address)
        page.goto("/account/work-areas")  # the visitor tries again: the wizard is still at step 3
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="Your account is created")).to_be_visible()

    state = portal.state()
    posts = [h["status"] for h in state["hits"] if (h["method"], h["path"]) == ("POST", "/account/work-areas")]
    assert posts == [500, 500, 303]
    assert state["knobs"]["fail_next"] == {"/account/work-areas": 0}
    assert account_of(state, mailbox_address)["status"] == "pending" and len(mails_to(state, mailbox_address)) == 1


def test_mail_delay_holds_the_mail_back(page: Page, portal, sandbox, mailbox_address: str) -> None:
    portal.knobs(mail_delay_ms=1500)
    create_account(page, mailbox_address)
    (sent,) = mails_to(portal.state(), mailbox_address)
    assert sent["delivered_at"] is None  # the page did not wait for the mail
    read_mails(sandbox, mailbox_address)
    (sent,) = mails_to(portal.state(), mailbox_address)
    assert (_at(sent["delivered_at"]) - _at(sent["sent_at"])).total_seconds() >= 1.4


def test_the_duplicate_mail_knob_sends_the_same_link_twice(page: Page, portal, sandbox,
                                                           mailbox_address: str) -> None:
    portal.knobs(mail_duplicate=True)
    create_account(page, mailbox_address)
    first, second = read_mails(sandbox, mailbox_address, count=2)
    assert (first.subject, second.subject) == (SUBJECT_EN, SUBJECT_EN)
    assert first.link() == second.link()
    sent = mails_to(portal.state(), mailbox_address)
    assert [(m["kind"], m["token_id"]) for m in sent] == [("activation", "tok-1"), ("activation", "tok-1")]
    activate(page, second.link())
    page.goto(first.link())  # the same token: used now
    expect(page.get_by_role("alert")).to_have_text("This activation link is not valid.")


def test_the_phishing_knob_sends_a_look_alike_to_another_host_first(page: Page, portal, sandbox,
                                                                   mailbox_address: str) -> None:
    portal.knobs(phishing=True)
    create_account(page, mailbox_address)
    fake, real = read_mails(sandbox, mailbox_address, count=2)
    assert (fake.from_, fake.subject) == (real.from_, real.subject) == (MAIL_FROM, SUBJECT_EN)
    assert urlsplit(fake.link()).netloc != urlsplit(sandbox.url).netloc
    assert urlsplit(real.link()).netloc == urlsplit(sandbox.url).netloc
    sent = mails_to(portal.state(), mailbox_address)
    assert [(m["kind"], m["token_id"]) for m in sent] == [("phishing", None), ("activation", "tok-1")]
    activate(page, real.link())
    assert account_of(portal.state(), mailbox_address)["status"] == "active"


def test_reset_brings_back_the_seed_data_and_the_profiles_knobs(page: Page, portal, mailbox_address: str) -> None:
    portal.knobs(captcha=True, latency_ms=[10, 20], error_rate={"/login": 0.5})
    open_english(page, "/account/new")
    page.get_by_label("Characters shown in the image").fill(portal.captcha())
    submit_step1(page, mailbox_address, EXISTING)
    page.get_by_role("button", name="Request to join this structure").click()
    portal.add_structure(BOULANGERIE, "someone@else.example")
    before = portal.state()
    assert before["join_requests"] and before["hits"] and len(before["structures"]) == 3

    portal.reset()
    state = portal.state()
    assert state["knobs"] == DEFAULT_KNOBS and state["profile"] == "default"
    assert sorted((a["email"], a["status"], a["primary_manager"]) for a in state["accounts"]) == [
        ("fournisseurs.chorus@cea.example", "active", True), ("manager@existing.example", "active", True)]
    assert sorted(s["siret"] for s in state["structures"]) == ["43749388500010", "77568501900306"]
    assert (state["join_requests"], state["mails"], state["hits"], state["cea_hits"]) == ([], [], [], 0)


def test_the_knobs_api_answers_the_full_set_and_refuses_bad_values(portal, sandbox) -> None:
    assert portal.knobs(latency_ms=[150, 400], otp=True) == {**DEFAULT_KNOBS, "latency_ms": [150, 400], "otp": True}
    for body, message in (({"colour": "red"}, "unknown knob(s): colour"),
                          ({"captcha": "yes"}, "captcha: expected true or false"),
                          ({"error_rate": {"/login": 2}}, "error_rate[/login]: expected a probability 0..1"),
                          ({"token_ttl_s": 0}, "token_ttl_s: expected a number of seconds > 0")):
        answer = httpx.post(f"{sandbox.url}/_sandbox/knobs", json=body)
        assert (answer.status_code, answer.json()) == (400, {"error": message})
    assert portal.state()["knobs"]["otp"] is True  # a refused request changes nothing
