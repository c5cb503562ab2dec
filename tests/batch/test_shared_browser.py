"""One Chromium for a batch, driven from several threads; nothing left behind when it stops."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess
import threading

import pytest
from playwright._impl._errors import TargetClosedError
from playwright.sync_api import Error as PlaywrightError

from batchtools import chromium_browsers, descendants, wait_gone
from bot.browser_loop import SharedBrowser
from bot.errors import TechnicalFault
from bot.settings import Settings


def test_threads_share_one_chromium_and_stop_leaves_nothing(tmp_path):
    before = descendants(os.getpid())  # e.g. the session's sandbox mail server
    browser = SharedBrowser(Settings(_env_file=None))
    seen: dict[int, str] = {}
    browsers_during: list[int] = []
    opened = threading.Barrier(3)

    def worker(n: int) -> None:
        context = browser.new_context()
        page = context.new_page()
        page.set_content(f"<p>worker {n}</p>")
        seen[n] = page.inner_text("p")
        opened.wait(60)  # both contexts are open at once...
        opened.wait(60)  # ...while the main thread counts the browsers
        context.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    opened.wait(60)
    browsers_during.append(len(chromium_browsers(os.getpid()) - before))  # not a browser an earlier test left running
    started = descendants(os.getpid()) - before
    opened.wait(60)
    for thread in threads:
        thread.join(60)
    assert seen == {0: "worker 0", 1: "worker 1"}
    assert browsers_during == [1]
    assert started, "the browser processes were seen"
    browser.stop()
    assert wait_gone(started) == set()
    assert not [t for t in threading.enumerate() if t.name == "browser-loop"], "the loop's thread ended"


def test_a_killed_driver_is_replaced_by_the_next_context():
    """A Playwright driver that dies (OOM killer, a stray kill) answers every call "closed"
    while its browser still looks connected: the next new_context starts a fresh driver and
    Chromium at once, and the old Chromium does not outlive its driver."""
    before = descendants(os.getpid())
    browser = SharedBrowser(Settings(_env_file=None))
    try:
        page = browser.new_context().new_page()
        page.set_content("<p>before</p>")
        first = chromium_browsers(os.getpid()) - before
        drivers = [pid for pid in descendants(os.getpid()) - before if b"run-driver" in _cmdline(pid)]
        assert len(drivers) == 1 and len(first) == 1
        os.kill(drivers[0], signal.SIGKILL)
        with pytest.raises(PlaywrightError):
            page.inner_text("p")
        page = browser.new_context().new_page()
        page.set_content("<p>after</p>")
        assert page.inner_text("p") == "after"
        assert wait_gone(first) == set(), "the first Chromium ended with its driver"
        assert len(chromium_browsers(os.getpid()) - before) == 1
    finally:
        browser.stop()


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def test_a_browser_that_does_not_start_is_one_line(tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'no display here' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    browser = SharedBrowser(Settings(_env_file=None, browser_path=fake))
    with pytest.raises(TechnicalFault, match="^Chromium does not start: ") as info:
        browser.new_context()
    assert "\n" not in str(info.value)
    browser.stop()


def test_only_a_chromium_browser_counts_as_one(tmp_path):
    """The batch tests' browser count (batchtools.chromium_browsers) takes a process for a
    browser by its executable: Chromium's crash handler, a `chrom*` program started through a
    process that exits at once, once made a fresh machine's batch test see two browsers."""
    programs = {}
    for name in ("chrome_crashpad_handler", "chromium"):
        program = tmp_path / name
        shutil.copy("/bin/sleep", program)
        programs[name] = subprocess.Popen([str(program), "60"])
    try:
        counted = chromium_browsers(os.getpid())
        assert programs["chrome_crashpad_handler"].pid not in counted
        assert programs["chromium"].pid in counted
    finally:
        for process in programs.values():
            process.kill()
            process.wait()


def test_handlers_and_assertions_work_through_the_loop():
    """What the page objects rely on, through ``Synced`` objects: a handler's call (the CEA
    guard's ``Fetch.failRequest``) takes effect, an event handler sees its frame, ``expect``
    passes and fails as Playwright's own, and errors are Playwright's classes."""
    from bot.browser_loop import expect
    from bot.pages.base import CeaGuard

    browser = SharedBrowser(Settings(_env_file=None))
    try:
        context = browser.new_context()
        guard = CeaGuard().install(context)
        page = context.new_page()
        guard.watch(page)
        navigated: list[str] = []
        page.on("framenavigated", lambda frame: navigated.append(frame.url))
        with pytest.raises(PlaywrightError, match="ERR_BLOCKED_BY_CLIENT"):
            page.goto("http://127.0.0.1:9/cea/login", timeout=10_000)
        assert guard.hits == ["/cea/login"]
        page = context.new_page()  # the first one is on Chromium's error page
        page.on("framenavigated", lambda frame: navigated.append(frame.url))
        page.goto("data:text/html,<label>Name <input id=n></label>")
        assert any(url.startswith("data:text/html") for url in navigated)
        page.get_by_label("Name").fill("ACME")
        expect(page.get_by_label("Name")).to_have_value("ACME", timeout=2_000)
        with pytest.raises(AssertionError):
            expect(page.get_by_label("Name")).to_have_value("other", timeout=300)
        assert page.frames == [page.main_frame]  # stand-ins of one object are equal
        context.close()
    finally:
        browser.stop()


def test_a_call_in_flight_when_chromium_dies_fails_even_if_the_driver_never_answers():
    """Playwright's driver once left a ``wait_for_function`` unanswered for good after a
    Chromium kill, and the batch hung on it. A call in flight when the browser disconnects
    now fails with TargetClosedError whether or not the driver answers: here a call that
    never completes by itself stands for the unanswered one."""
    before = descendants(os.getpid())
    browser = SharedBrowser(Settings(_env_file=None))
    try:
        page = browser.new_context().new_page()
        page.set_content("<p>before</p>")
        loop = browser._loop
        assert loop is not None
        outcome: list[BaseException | None] = []

        def unanswered() -> None:
            try:
                loop.run(lambda: asyncio.get_running_loop().create_future(), what="a call")
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - the test reads it
                outcome.append(exc)

        waiting = threading.Thread(target=unanswered)
        waiting.start()
        [chromium] = chromium_browsers(os.getpid()) - before
        os.kill(chromium, signal.SIGKILL)
        waiting.join(30)
        assert not waiting.is_alive(), "the call still waits after its browser died"
        [error] = outcome
        assert isinstance(error, TargetClosedError), repr(error)
        page = browser.new_context().new_page()  # and the next supplier gets a new Chromium
        page.set_content("<p>after</p>")
        assert page.inner_text("p") == "after"
    finally:
        browser.stop()
