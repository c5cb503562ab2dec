"""Profiles and data sets (spec "Profiles", "INSEE data", "Running it"): the `live-like` profile in
a second sandbox, `--insee-dir` pointing at another folder, and clear one-line start-up errors.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from fixtures.portal.server import DEFAULT_INSEE_DIR, Sandbox, SandboxError
from helpers import BOULANGERIE, EXISTING, open_english, submit_step1

ATELIER = "75498885500013"  # in the default data set, not in the copied folder


@pytest.fixture(scope="module")
def live_like() -> Iterator[Sandbox]:
    with Sandbox(profile="live-like") as running:
        yield running


@pytest.fixture
def live_context(browser: Browser, live_like: Sandbox) -> Iterator[BrowserContext]:
    httpx.post(f"{live_like.url}/_sandbox/reset").raise_for_status()
    context = browser.new_context(base_url=live_like.url, locale="fr-FR")
    yield context
    context.close()
    assert httpx.get(f"{live_like.url}/_sandbox/state").json()["cea_hits"] == 0


def test_live_like_starts_with_captcha_one_time_code_latency_and_mail_delay(live_like: Sandbox,
                                                                           live_context: BrowserContext) -> None:
    state = httpx.get(f"{live_like.url}/_sandbox/state").json()
    assert state["profile"] == "live-like"
    knobs = state["knobs"]
    assert (knobs["captcha"], knobs["otp"], knobs["maintenance"]) == (True, True, False)
    assert (knobs["latency_ms"], knobs["mail_delay_ms"]) == ([150, 400], [1000, 3000])

    page = live_context.new_page()
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("dialog", name="Gestion des cookies")).to_be_visible()
    page.get_by_role("button", name="Tout accepter").click()
    page.get_by_role("link", name="Créer un compte").click()
    expect(page.get_by_role("img", name="Image de sécurité : 5 caractères à recopier")).to_be_visible()
    expect(page.get_by_label("Caractères affichés dans l'image")).to_be_visible()
    expect(page.get_by_role("link", name="Une autre image")).to_be_visible()
    hits = httpx.get(f"{live_like.url}/_sandbox/state").json()["hits"]
    assert len(hits) == 4 and all(h["duration_ms"] >= 150 for h in hits), hits  # GET /, POST /consent, GET /, step 1


def test_live_like_keeps_its_knobs_after_a_reset(live_like: Sandbox, live_context: BrowserContext) -> None:
    httpx.post(f"{live_like.url}/_sandbox/knobs", json={"captcha": False, "otp": False}).raise_for_status()
    httpx.post(f"{live_like.url}/_sandbox/reset").raise_for_status()
    knobs = httpx.get(f"{live_like.url}/_sandbox/state").json()["knobs"]
    assert (knobs["captcha"], knobs["otp"]) == (True, True)


def _insee_copy(folder: Path, *sirets: str) -> Path:
    folder.mkdir()
    for siret in sirets:
        shutil.copy(DEFAULT_INSEE_DIR / f"{siret}.json", folder)
    return folder


def test_an_insee_dir_serves_only_its_own_files(browser: Browser, tmp_path: Path, mailbox_address: str) -> None:
    folder = _insee_copy(tmp_path / "insee", BOULANGERIE, EXISTING)
    with Sandbox(insee_dir=folder) as other:
        context = browser.new_context(base_url=other.url)
        try:
            page = context.new_page()
            open_english(page, "/account/new")
            submit_step1(page, mailbox_address, ATELIER)
            expect(page.get_by_role("alert")).to_have_text("This SIRET is unknown in the INSEE database.")
            submit_step1(page, mailbox_address, EXISTING)  # registered by the sandbox's own seed data
            expect(page.get_by_role("heading", name="This structure already exists in Chorus Pro")).to_be_visible()
            page.goto("/account/new")
            submit_step1(page, mailbox_address, BOULANGERIE)
            expect(page.get_by_label("Company name")).to_have_value("Boulangerie Dupré SARL")
        finally:
            context.close()
        assert httpx.get(f"{other.url}/_sandbox/state").json()["cea_hits"] == 0


def test_an_unreadable_insee_file_stops_chorus_bot_sandbox_with_its_name(tmp_path: Path) -> None:
    folder = _insee_copy(tmp_path / "insee", BOULANGERIE)
    broken = folder / "12345678900017.json"
    broken.write_bytes(b"\xff\xfe\x00 not text")
    broken.chmod(0)  # unreadable for a normal user; as root the bytes are what cannot be read
    cli = Path(sys.executable).with_name("chorus-bot")
    run = subprocess.run([str(cli), "sandbox", "--port", "0", "--insee-dir", str(folder)], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 2 and "sandbox ready" not in run.stdout
    lines = run.stderr.strip().splitlines()
    assert lines == [f"error: the portal cannot start: {broken}: cannot read the file (UnicodeDecodeError)"] or \
        lines == [f"error: the portal cannot start: {broken}: cannot read the file (PermissionError)"], run.stderr


@pytest.mark.parametrize(("content", "problem"), [
    ("{not json", "not valid JSON (line 1)"),
    ('{"etablissement": {}}', "not a Sirene 3.11 /siret body (missing 'uniteLegale')"),
])
def test_a_bad_insee_file_is_one_clear_line_naming_it(tmp_path: Path, content: str, problem: str) -> None:
    folder = _insee_copy(tmp_path / "insee", BOULANGERIE)
    bad = folder / "99999999999999.json"
    bad.write_text(content)
    with pytest.raises(SandboxError) as error:
        Sandbox(insee_dir=folder).start()
    assert str(error.value) == f"the portal cannot start: {bad}: {problem}"


def test_an_unknown_profile_is_one_clear_line() -> None:
    with pytest.raises(SandboxError) as error:
        Sandbox(profile="production").start()
    assert str(error.value) == "unknown sandbox profile 'production' (choose default or live-like)"
