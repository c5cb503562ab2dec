"""Open a trace zip in Playwright's own trace viewer, headless, as the person on duty would.

The viewer ships in the playwright package (``driver/package/lib/vite/traceViewer``); it is
served here with the zip from one local origin (its service worker needs one) and loaded in
the tests' Chromium: what `playwright show-trace trace.zip` shows, minus the window.
"""
from __future__ import annotations

import functools
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import playwright
from playwright.sync_api import Browser, FrameLocator, Page, expect

VIEWER = Path(playwright.__file__).parent / "driver" / "package" / "lib" / "vite" / "traceViewer"


@contextmanager
def trace_viewer(browser: Browser, trace_zip: Path) -> Iterator[Page]:
    """The viewer's page, once the trace has loaded: its action list shows the group the
    recorder opens when recording resumes (every trace these tests open has one)."""

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def translate_path(self, path: str) -> str:
            return str(trace_zip) if path.split("?")[0] == "/trace.zip" else super().translate_path(path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(VIEWER)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    page = browser.new_page()
    try:
        page.goto(f"{base}/index.html?trace={base}/trace.zip")
        expect(page.get_by_text("Recording resumed").first).to_be_visible(timeout=30_000)
        yield page
    finally:
        page.close()
        server.shutdown()
        server.server_close()


def snapshot_after(viewer: Page, action_text: str, shows: str, tries: int = 3) -> FrameLocator:
    """Select the action listed with `action_text`, show its "After" DOM snapshot and return
    it once it shows the text `shows`.

    On a loaded machine the viewer's snapshot frame has stayed blank once in a while, with the
    action selected and the snapshot's address shown above it: the snapshot is then shown
    again (the "Before" tab, then "After"), as a person would, up to `tries` times. A snapshot
    that never shows the text still fails.
    """
    viewer.get_by_text(action_text).first.click()
    snapshot = viewer.frame_locator("iframe.snapshot-visible")
    for _ in range(tries - 1):
        viewer.get_by_text("After", exact=True).click()
        try:
            expect(snapshot.get_by_text(shows)).to_be_visible(timeout=10_000)
            return snapshot
        except AssertionError:
            viewer.get_by_text("Before", exact=True).click()
    viewer.get_by_text("After", exact=True).click()
    expect(snapshot.get_by_text(shows)).to_be_visible(timeout=10_000)
    return snapshot
