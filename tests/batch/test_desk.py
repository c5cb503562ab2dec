"""`chorus-bot batch FILE --desk`: a real Chromium plays the person at the captcha desk while the
batch runs against the account-first sandbox (captcha and one-time code on).

The sandbox's `captcha_text` knob makes every image show the same text, so the operator knows
each answer at concurrency 3 (`GET /_sandbox/captcha` only tells the latest image's); the bot
still never reads an image: it hands each one to the desk and types what the page sends.
CHORUS_CAPTCHA is `none`: without the desk, every supplier would end `captcha_required`.

Set DESK_SCREENSHOT=docs/screenshots/desk.png to refresh the README's picture of the desk.
"""
from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from batchtools import FRENCH_HEADER, Bot, accounts_by_email, supplier_rows, write_csv
from bot.desk import ADDRESS_FILE, WebDesk, is_loopback, notify_argv
from bot.errors import ConfigError
from bot.settings import load_settings
from fixtures.portal.knobs import KnobError, validate

CAPTCHA = "DESK7"  # every image's text (the `captcha_text` knob)
WRONG = "ZZZZZ"
FIELD = "Characters shown in the image"
CARD_WAIT_MS = 90_000  # a supplier reaches its captcha after the portal's first screens
ADDRESS = re.compile(r"^captcha desk: (http://\S+)$")


@pytest.fixture
def desk_bot(af_env, tmp_path) -> Bot:
    """`chorus-bot` on the account-first sandbox with no captcha desk of its own (the desk replaces it)."""
    env = {**os.environ, **af_env, "CHORUS_CAPTCHA": "none", "CHORUS_RETRY_BACKOFF_S": "0.5",
           "CHORUS_LOG_LEVEL": "INFO"}
    for name in ("CHORUS_CAPTCHA_COMMAND", "CHORUS_CONCURRENCY", "CHORUS_DESK_NOTIFY_COMMAND"):
        env.pop(name, None)
    return Bot(env=env, cwd=tmp_path)


class Running:
    """A `chorus-bot` subprocess whose stdout and stderr are read while it runs (pipes drained)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._read, args=(proc.stdout, self.out, True), daemon=True),
                         threading.Thread(target=self._read, args=(proc.stderr, self.err, False), daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read(self, stream, into: list[str], tell: bool) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))
            if tell:
                self._lines.put(line.rstrip("\n"))

    def desk_url(self, timeout_s: float = 60) -> str:
        """The address the batch printed (waits for its stdout line)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no desk address printed; stderr: {self.err[-20:]}") from None
            if match := ADDRESS.match(line):
                return match.group(1)

    def finish(self, timeout_s: float) -> int:
        code = self.proc.wait(timeout=timeout_s)
        for thread in self._threads:
            thread.join(10)
        return code


def start(bot: Bot, *args: str) -> Running:
    return Running(bot.start(*args))


def batch_file(tmp_path: Path, count: int, start_at: int) -> tuple[Path, list[list[str]]]:
    rows = supplier_rows(count, f"desk-{uuid.uuid4().hex[:6]}", start=start_at)
    return write_csv(tmp_path / f"fournisseurs-{start_at}.csv", FRENCH_HEADER, rows, encoding="utf-8-sig"), rows


def desk_page(browser: Browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 720}, locale="en-GB")
    page.goto(url)
    expect(page.get_by_role("heading", name="Captcha desk")).to_be_visible()
    return page


def answer_focused(page: Page, text: str) -> str:
    """Type `text` where the page put the focus (the oldest waiting field) and press Enter, as a
    person at the keyboard would; returns the card's heading ("SIRET ...")."""
    card = page.locator("article:has(input:focus)")
    expect(card).to_have_count(1, timeout=CARD_WAIT_MS)
    request_id, heading = card.get_attribute("data-id"), card.locator("h2").inner_text()
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    expect(page.locator(f'article[data-id="{request_id}"]')).to_have_count(0)
    return heading


def forbidden_without_token(url: str, request_id: str) -> None:
    """The page, the waiting list, an image and the answer endpoint: 403 without the token."""
    parts = urlsplit(url)
    root, token = f"{parts.scheme}://{parts.netloc}", parts.path.strip("/")
    wrong = token[:-2] + ("aa" if not token.endswith("aa") else "bb")
    with httpx.Client(base_url=root, timeout=10) as http:
        for path in ("/", f"/{wrong}/", f"/{wrong}/waiting", f"/{wrong}/desk.js", f"/{wrong}/image/{request_id}",
                     f"/image/{request_id}", f"/{token[:8]}/waiting", "/waiting"):
            assert http.get(path).status_code == 403, path
        for path in (f"/{wrong}/answer/{request_id}", f"/answer/{request_id}"):
            assert http.post(path, json={"answer": WRONG}).status_code == 403, path
        shown = http.get(f"/{token}/image/{request_id}")
        assert shown.status_code == 200 and shown.content.startswith(b"\x89PNG"), shown.status_code


def logs_of(tmp_path: Path, run: Running) -> str:
    files = "".join(p.read_text(errors="replace") for p in (tmp_path / "artifacts" / "logs").glob("*.log*"))
    return "\n".join(run.err) + files


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_person_at_the_desk_answers_six_suppliers_at_concurrency_three(desk_bot, af_portal, browser, tmp_path):
    assert af_portal.knobs(captcha_text=CAPTCHA.lower())["captcha_text"] == CAPTCHA  # as the portal compares
    path, rows = batch_file(tmp_path, 6, start_at=0)
    run = start(desk_bot, "batch", str(path), "--desk", "--concurrency", "3", "--report", str(tmp_path / "r.json"))
    try:
        url = run.desk_url()
        assert urlsplit(url).hostname == "127.0.0.1"
        attached = desk_bot.run("desk", timeout=60)
        assert (attached.returncode, attached.stdout.strip()) == (0, url), attached.stderr

        page = desk_page(browser, url)
        cards = page.locator("article")
        expect(cards).to_have_count(3, timeout=CARD_WAIT_MS)  # three workers, each at its captcha
        expect(page.get_by_role("status")).to_have_text("3 suppliers waiting for a person")
        first = cards.first
        expect(first.get_by_label(FIELD)).to_be_focused()  # the oldest field has the keyboard
        expect(first.locator("h2")).to_have_text(re.compile(r"^SIRET \d{3} \d{3} \d{3} \d{5}$"))
        expect(first.get_by_text("try 1 of 3")).to_be_visible()
        expect(first.get_by_role("img")).not_to_have_js_property("naturalWidth", 0)  # the saved PNG, shown
        forbidden_without_token(url, first.get_attribute("data-id"))
        screenshot = tmp_path / "desk.png"
        page.screenshot(path=str(screenshot))
        if target := os.environ.get("DESK_SCREENSHOT"):
            shutil.copyfile(screenshot, target)

        # A wrong answer: the portal shows a new image, and the same supplier is back at the desk.
        refused = answer_focused(page, WRONG)
        again = page.locator("article", has=page.get_by_role("heading", name=refused, exact=True))
        expect(again.get_by_text("try 2 of 3")).to_be_visible(timeout=CARD_WAIT_MS)
        # "Another image": a new image of the same supplier, the same try.
        asked = again.get_attribute("data-id")
        again.get_by_role("button", name="Another image").click()
        expect(page.locator(f'article[data-id="{asked}"]')).to_have_count(0)
        expect(again.get_by_text("try 2 of 3")).to_be_visible(timeout=CARD_WAIT_MS)
        assert again.get_attribute("data-id") != asked

        answered = [answer_focused(page, CAPTCHA) for _ in rows]
        assert len(set(answered)) == len(rows), answered
        assert run.finish(timeout_s=150) == 0, run.err[-30:]
        expect(page.get_by_role("status")).to_have_text(re.compile("the batch may have ended"))
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.finish(timeout_s=30)

    report = json.loads((tmp_path / "r.json").read_text())
    assert [r["status"] for r in report] == ["activated"] * len(rows), report
    by_email = accounts_by_email(af_portal.state())
    assert all(by_email[row[1].lower()][0]["status"] == "active" for row in rows)
    assert any("waiting for a person: " in line for line in run.out), run.out
    logs = logs_of(tmp_path, run)
    assert "waiting for a person at the desk" in logs
    token = urlsplit(url).path.strip("/")
    assert token not in logs and CAPTCHA not in logs and WRONG not in logs
    assert not list((tmp_path / "artifacts").glob(f"*/{ADDRESS_FILE}"))  # removed with the desk
    gone = desk_bot.run("desk", timeout=60)
    assert gone.returncode == 1 and "no batch is running" in gone.stderr


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_supplier_nobody_answers_ends_captcha_required_and_retry_failed_activates_it(
        desk_bot, af_portal, browser, tmp_path):
    af_portal.knobs(captcha_text=CAPTCHA)
    path, rows = batch_file(tmp_path, 1, start_at=6)
    notified = tmp_path / "notified.txt"
    notify = tmp_path / "notify.sh"
    notify.write_text(f'#!/bin/sh\n{{ printf "%s\\n" "$1"; env | cut -d= -f1; }} > "{notified}"\n')
    desk_bot.env |= {"CHORUS_DESK_TIMEOUT_S": "4", "CHORUS_DESK_NOTIFY_COMMAND": f"/bin/sh {notify}"}

    run = start(desk_bot, "batch", str(path), "--desk", "--report", str(tmp_path / "first.json"))
    try:
        url = run.desk_url()
        page = desk_page(browser, url)
        expect(page.locator("article")).to_have_count(1, timeout=CARD_WAIT_MS)
        expect(page.locator("article")).to_have_count(0, timeout=15_000)  # nobody answered in time
        # The batch ends right after its only supplier: the page may see the empty queue, or
        # only a desk that no longer answers; either way no card is left to answer.
        expect(page.get_by_role("status")).to_have_text(re.compile("^Nobody is waiting|the batch may have ended"))
        assert run.finish(timeout_s=60) == 1, run.err[-30:]
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.finish(timeout_s=30)
    [first] = json.loads((tmp_path / "first.json").read_text())
    assert (first["status"], first["message"]) == ("captcha_required", "nobody answered the captcha"), first
    logs = logs_of(tmp_path, run)
    assert "waiting for a person at the desk" in logs and "nobody answered at the desk within 4 s" in logs
    told = notified.read_text().splitlines()
    assert told[0] == url  # the address, as last argument
    assert [name for name in told[1:] if name.startswith("CHORUS_")] == ["CHORUS_DESK_URL"], told

    desk_bot.env |= {"CHORUS_DESK_TIMEOUT_S": "120"}
    del desk_bot.env["CHORUS_DESK_NOTIFY_COMMAND"]
    skipped = desk_bot.run("batch", str(path), timeout=60)  # final without --retry-failed
    assert skipped.returncode == 1 and "0 supplier(s) to run" in " ".join(skipped.stdout.split()), skipped.stdout
    run = start(desk_bot, "batch", str(path), "--desk", "--retry-failed", "--report", str(tmp_path / "second.json"))
    try:
        page = desk_page(browser, run.desk_url())
        answer_focused(page, CAPTCHA)
        assert run.finish(timeout_s=120) == 0, run.err[-30:]
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.finish(timeout_s=30)
    [second] = json.loads((tmp_path / "second.json").read_text())
    assert second["status"] == "activated", second
    assert accounts_by_email(af_portal.state())[rows[0][1].lower()][0]["status"] == "active"


# -- the desk alone, without a batch ------------------------------------------------------------


def test_stopping_the_desk_releases_a_waiting_worker_and_clears_the_open_page(browser, tmp_path):
    """A person's page must not keep a card nobody can answer any more (the batch ended)."""
    desk = WebDesk(load_settings(_env_file=None, desk_timeout_s=60)).start()
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.append(
        desk.answer(tmp_path / "captcha-1.png", login_email="a@b.example", attempt=1, attempts=3)))
    worker.start()
    deadline = time.monotonic() + 10
    while desk.waiting_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # a queue, not a page: nothing to wait on but the count
    assert desk.waiting_count() == 1
    page = desk_page(browser, desk.url)
    expect(page.locator("article")).to_have_count(1)
    desk.stop()  # the batch ended or was interrupted
    worker.join(5)
    assert got == [None]
    expect(page.locator("article")).to_have_count(0)
    expect(page.get_by_role("status")).to_have_text(re.compile("the batch may have ended"))
    expect(page).to_have_title("Captcha desk")
    with pytest.raises(httpx.TransportError):
        httpx.get(desk.url, timeout=2)


def test_where_the_desk_may_listen_and_what_it_may_run():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.10")
    assert notify_argv(None) is None and notify_argv("  ") is None
    assert notify_argv("/bin/sh -c 'echo hi'") == ["/bin/sh", "-c", "echo hi"]
    with pytest.raises(ConfigError, match="CHORUS_DESK_NOTIFY_COMMAND: 'no-such-notifier' is not an executable"):
        notify_argv("no-such-notifier --chat ops")


def test_the_captcha_text_knob():
    assert validate({"captcha_text": "ab3de"}) == {"captcha_text": "AB3DE"}
    assert validate({"captcha_text": None}) == {"captcha_text": None}
    for bad in ("", "TOOLONG", "AB-CD", 12345, True):
        with pytest.raises(KnobError, match="captcha_text"):
            validate({"captcha_text": bad})
