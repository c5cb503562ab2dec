"""TraceRecorder on real Chromium: secrets typed in a secret section never reach an artifact,
while the trace still opens in Playwright's own trace viewer and shows the steps around them."""
from __future__ import annotations

import json
import secrets
import zipfile
from pathlib import Path
from typing import Iterator

import pytest
from loguru import logger
from playwright.sync_api import Browser, BrowserContext, Page, expect

from bot.errors import TechnicalFault
from bot.logs import setup_logging
from bot.runtemp import run_temp_dir
from bot.secrets import registry
from bot.settings import Settings
from bot.tracing import SPOOL_DIR, TraceRecorder

from secret_scan import TOKEN, scan
from trace_viewer import snapshot_after, trace_viewer

SIRET = "73282932000074"


def new_secrets() -> tuple[str, str]:
    """A password with every character class encoders care about, and a letters-only answer."""
    password = f"Pw{secrets.token_hex(4)}/+&%=é!#"
    answer = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(16))
    return password, answer


def trace_events(trace_zip: Path) -> list[dict]:
    """Every event of every part of the trace; each NDJSON line must parse."""
    events = []
    with zipfile.ZipFile(trace_zip) as archive:
        for name in archive.namelist():
            if name.endswith((".trace", ".network")):
                events += [json.loads(line) for line in archive.read(name).splitlines() if line.strip()]
    return events


def actions(events: list[dict]) -> list[tuple[str, dict]]:
    return [(e["method"], e["params"]) for e in events if e["type"] == "before" and "method" in e]


@pytest.fixture
def settings(tmp_path, request) -> Settings:
    mode = getattr(request, "param", "on")
    built = Settings(artifacts_dir=tmp_path / "artifacts", trace=mode, log_level="DEBUG", _env_file=None)
    setup_logging(built, "run-trace-test")
    yield built
    logger.remove()


@pytest.fixture
def run_temp() -> Iterator[Path]:
    """The run's private temporary folder, as every command sets it: segments wait there."""
    with run_temp_dir() as folder:
        yield folder


def zips(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.zip"))


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context()
    yield ctx
    ctx.close()


def open_activation_page(page: Page, site: str) -> None:
    """The steps before the secrets: a plain fill, then the (token-bearing) activation link."""
    registry.add(TOKEN, "activation_token")  # as bot.mail does when it reads the link
    page.goto(site + "/")
    page.locator("#name").fill("Acme SARL")
    page.get_by_role("link", name="Activate").click()
    expect(page.get_by_role("heading", name="Activate your user account")).to_be_visible()


def type_secrets(page: Page, password: str, answer: str) -> None:
    page.locator("#password").fill(password)
    page.locator("#confirm").fill(password)
    page.locator("#answer").fill(answer)
    page.get_by_role("button", name="Validate").click()


def test_trace_holds_no_secret_and_still_shows_the_steps(run_temp, context, settings, site, tmp_path):
    password, answer = new_secrets()
    recorder = TraceRecorder(context, settings, "run-trace-test", SIRET)
    recorder.start()
    page = context.new_page()
    open_activation_page(page, site)
    with recorder.secret_section(password, answer):
        type_secrets(page, password, answer)
        expect(page).to_have_url(site + "/activated")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Welcome")).to_be_visible()
    logger.bind(siret=SIRET).debug(f"by mistake: {password} {answer} {site}/activate?token={TOKEN}")
    kept = recorder.finish(failed=False)  # TRACE=on keeps a successful attempt too

    assert kept == str(settings.artifacts_dir / "run-trace-test" / SIRET / "attempt-1" / "trace.zip")
    assert scan(tmp_path, password, answer, TOKEN) == []

    events = trace_events(Path(kept))
    steps = actions(events)
    methods = [method for method, _ in steps]
    assert ("fill", "Acme SARL") in [(m, p.get("value")) for m, p in steps]  # before the section
    assert methods.count("click") == 2  # "Activate" before, "Continue" after; "Validate" absent
    assert not any(p.get("selector", "").endswith(("#password", "#confirm", "#answer")) for _, p in steps)
    urls = {e["snapshot"]["frameUrl"] for e in events if e["type"] == "frame-snapshot"}
    assert f"{site}/activate?token=********" in urls  # the activation page is shown, token masked
    assert f"{site}/activated" in urls  # and the page after it
    with zipfile.ZipFile(kept) as archive:  # CHORUS_TRACE_SCREENSHOTS is off by default
        assert not [name for name in archive.namelist() if name.endswith(".jpeg")]
    assert zips(run_temp) == []  # the segments and the merge are gone

    assert_opens_in_trace_viewer(context.browser, Path(kept))


def assert_opens_in_trace_viewer(browser: Browser, trace_zip: Path) -> None:
    """Playwright's own trace viewer loads the zip, lists the steps on both sides of the
    secret section, and renders the activation page with its fields empty."""
    with trace_viewer(browser, trace_zip) as viewer:
        expect(viewer.get_by_text('Fill "Acme SARL"')).to_be_visible()
        listed = viewer.locator("body").inner_text()  # the action list (snapshots are in iframes)
        assert 'name="Activate"' in listed and 'name="Continue"' in listed
        assert "Validate" not in listed and "#password" not in listed
        snapshot = snapshot_after(viewer, 'get_by_role("link", name="Activate")', "Activate your user account")
        expect(snapshot.locator("#password")).to_have_value("")
        expect(snapshot.locator("#answer")).to_have_value("")


@pytest.mark.parametrize("settings", ["retain-on-failure"], indirect=True)
def test_failure_inside_the_secret_section_keeps_clean_artifacts(run_temp, context, settings, site, tmp_path):
    """The portal refuses the form and echoes the answer back into the page: the attempt
    fails with secrets on screen. Trace, screenshot, HTML and log tail must still be clean."""
    password, answer = new_secrets()
    answer = "bad-" + answer  # the test site echoes such an answer back, with an error
    recorder = TraceRecorder(context, settings, "run-trace-test", SIRET)
    recorder.start()
    page = context.new_page()
    open_activation_page(page, site)
    log = logger.bind(siret=SIRET)
    try:
        with recorder.secret_section(password, answer):
            type_secrets(page, password, answer)
            expect(page.get_by_role("alert")).to_be_visible()
            log.debug(f"refused with {password} / {answer}")  # a careless line, on purpose
            raise TechnicalFault(f"activation refused for answer {answer}", screen="activation")
    except TechnicalFault as exc:
        paths = recorder.capture_failure(page, exc, step="activation")
        kept = recorder.finish(failed=True)

    attempt = settings.artifacts_dir / "run-trace-test" / SIRET / "attempt-1"
    assert kept == str(attempt / "trace.zip")
    assert sorted(Path(p).name for p in paths) == ["failure.html", "failure.json", "failure.png", "log-tail.txt"]
    expect(page.locator("#answer")).to_have_value("")  # blanked before the screenshot
    assert scan(tmp_path, password, answer, TOKEN) == []

    summary = json.loads((attempt / "failure.json").read_text())
    assert summary["screen"] == "activation" and summary["step"] == "activation"
    assert summary["message"] == "activation refused for answer ********"
    assert summary["url"].endswith("/activate?token=********")
    assert "The passwords do not match." in (attempt / "failure.html").read_text()
    tail = (attempt / "log-tail.txt").read_text()
    assert "refused with ******** / ********" in tail and SIRET in tail
    assert (attempt / "failure.png").read_bytes().startswith(b"\x89PNG")
    methods = [m for m, _ in actions(trace_events(attempt / "trace.zip"))]
    assert "fill" in methods and methods.count("click") == 1  # up to the activation page, no further
    assert zips(run_temp) == [] and zips(settings.artifacts_dir) == [attempt / "trace.zip"]


def test_recording_waits_until_the_page_no_longer_shows_a_secret(context, settings, site, tmp_path):
    password, answer = new_secrets()
    answer = "bad-" + answer
    recorder = TraceRecorder(context, settings, "run-trace-test", SIRET)
    recorder.start()
    page = context.new_page()
    open_activation_page(page, site)
    with recorder.secret_section(password, answer):
        type_secrets(page, password, answer)
        expect(page.get_by_role("alert")).to_be_visible()
    # the answer is still in its field: recording must not have resumed
    page.locator("#answer").focus()  # so this action is not recorded
    assert recorder.resume() is False
    page.goto(site + "/activated")
    assert recorder.resume() is True
    page.get_by_role("button", name="Continue").click()
    kept = recorder.finish(failed=False)

    assert scan(tmp_path, password, answer, TOKEN) == []
    steps = actions(trace_events(Path(kept)))
    assert [m for m, _ in steps if m in ("focus", "click", "goto")] == ["goto", "click", "click"]


@pytest.mark.parametrize("settings", ["retain-on-failure"], indirect=True)
def test_retain_on_failure_deletes_a_successful_attempt_unscrubbed(run_temp, context, settings, site):
    """Segments wait unscrubbed in the run's private temporary folder only (never under the
    artifacts folder); a success deletes them there, so it costs no scrub and leaves nothing."""
    recorder = TraceRecorder(context, settings, "run-trace-test", SIRET, attempt=1)
    recorder.start()
    page = context.new_page()
    open_activation_page(page, site)
    with recorder.secret_section():
        spooled = zips(run_temp)
        assert [p.parent.parent for p in spooled] == [run_temp / SPOOL_DIR]
        assert scan(run_temp, TOKEN)  # unscrubbed: why it may only wait in a private, swept folder
        assert spooled[0].parent.stat().st_mode & 0o777 == 0o700
        assert zips(settings.artifacts_dir) == []
        page.goto(site + "/activated")
    assert recorder.finish(failed=False) is None
    assert not (settings.artifacts_dir / "run-trace-test" / SIRET).exists()
    assert zips(run_temp) == [] and list((run_temp / SPOOL_DIR).iterdir()) == []


@pytest.mark.parametrize("settings", ["retain-on-failure"], indirect=True)
def test_retain_on_failure_outside_a_run_temp_folder_scrubs_each_segment(context, settings, site, tmp_path):
    """A recorder used outside ``run_temp_dir`` has no private spool: each segment is scrubbed
    as soon as it is saved in the attempt folder, as a hard kill could leave it there."""
    recorder = TraceRecorder(context, settings, "run-trace-test", SIRET, attempt=1)
    recorder.start()
    page = context.new_page()
    open_activation_page(page, site)
    with recorder.secret_section():
        assert [p.name for p in zips(settings.artifacts_dir)] == [".segment-01.zip"]
        assert scan(tmp_path, TOKEN) == []
        page.goto(site + "/activated")
    assert recorder.finish(failed=False) is None
    assert not (settings.artifacts_dir / "run-trace-test" / SIRET).exists()


@pytest.mark.parametrize("settings", ["off"], indirect=True)
def test_trace_off_records_nothing(context, settings, site):
    recorder = TraceRecorder(context, settings, "run-trace-test", SIRET)
    recorder.start()
    page = context.new_page()
    page.goto(site + "/")
    with recorder.secret_section():
        page.goto(site + "/activated")
    assert recorder.finish(failed=True) is None
    assert not list(settings.artifacts_dir.rglob("*.zip"))


def test_a_trace_without_snapshots_still_holds_the_actions_and_their_logs(run_temp, context, tmp_path, site):
    """CHORUS_TRACE_SNAPSHOTS=false: no page content in the kept trace (no DOM snapshot, and
    Playwright then records no network either), every step and its call log still there."""
    settings = Settings(artifacts_dir=tmp_path / "artifacts", trace="on", trace_snapshots=False, _env_file=None)
    recorder = TraceRecorder(context, settings, "run-trace-test", SIRET)
    recorder.start()
    page = context.new_page()
    open_activation_page(page, site)
    kept = recorder.finish(failed=False)

    events = trace_events(Path(kept))
    assert not [e for e in events if e["type"] in ("frame-snapshot", "resource-snapshot")]
    steps = actions(events)
    assert ("fill", "Acme SARL") in [(m, p.get("value")) for m, p in steps]
    assert [m for m, _ in steps].count("click") == 1
    assert any(e["type"] == "log" and "Activate" in e.get("message", "") for e in events)
