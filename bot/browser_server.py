"""One Chromium for a whole batch, driven by several worker threads at once.

Why this shape: the registration flow uses Playwright's *sync* API, whose objects belong to
the thread that created them, so N suppliers in flight need N threads, each with its own
``sync_playwright()``. To still run ONE Chromium per batch, the browser is started once by
Playwright's own ``launchServer`` (Node API; Python lacks it) in the Node runtime that the
Playwright package ships, and every worker thread ``connect``s to it and opens one browser
context per supplier. Compared with ``--remote-debugging-port`` + ``connect_over_cdp``:
the full Playwright protocol (tracing works as with a local launch), the server listens on
127.0.0.1 only with an unguessable path (CDP would let any local user drive the browser that
types the passwords), and the server ends with its parent: it watches its stdin, which the
kernel closes when the bot dies, even by SIGKILL, so no orphan Chromium outlives a run.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import threading
from pathlib import Path

from playwright._impl._driver import compute_driver_executable
from playwright.sync_api import Browser, BrowserContext, Error as PlaywrightError, Playwright, sync_playwright

from bot.browser import launch_options
from bot.errors import TechnicalFault
from bot.settings import Settings

START_TIMEOUT_S = 60.0

# Starts the server, prints its endpoint, and stops when stdin ends (the parent is gone) or
# when the browser closes (a crash), so that the parent sees it and may start a new one.
_SERVER_JS = r"""
const [packageDir, options] = process.argv.slice(1);
const { chromium } = require(packageDir);
(async () => {
  const server = await chromium.launchServer(JSON.parse(options));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try { await server.close(); } catch (e) {}
    process.exit(0);
  };
  server.on("close", () => process.exit(0));
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  process.on("SIGTERM", stop);
  process.stdin.resume();
  process.stdout.write(server.wsEndpoint() + "\n");
})().catch((e) => {
  process.stderr.write(String((e && e.message) || e).split("\n")[0] + "\n");
  process.exit(1);
});
"""


class BrowserServer:
    """The batch's Chromium, started on first use; restarted if it died (crash)."""

    def __init__(self, settings: Settings, *, headless: bool | None = None):
        self.settings = settings
        self.headless = headless
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._endpoint: str | None = None

    def endpoint(self) -> str:
        """The WebSocket endpoint of the running server; starts it when needed."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            assert self._endpoint is not None
            return self._endpoint

    def _start(self) -> None:
        self._close_streams(self._proc)  # a server that died (crash): free its pipes
        options = launch_options(self.settings, headless=self.headless)
        js_options = {
            "args": options["args"],
            "headless": options["headless"],
            "chromiumSandbox": options["chromium_sandbox"],
            "host": "127.0.0.1",
        }
        if options["executable_path"]:
            js_options["executablePath"] = options["executable_path"]
        node, cli = compute_driver_executable()
        # stderr to a file, not a pipe: nobody reads it while the batch runs, and a full pipe
        # would block the server; its first line explains a failed start.
        errors = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen(
            [str(node), "-e", _SERVER_JS, str(Path(cli).parent), json.dumps(js_options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,  # Ctrl-C in a terminal must not kill the browser under running flows
        )
        line = _readline(proc, START_TIMEOUT_S)
        if not line.startswith("ws://"):
            proc.kill()
            proc.wait()
            errors.seek(0)
            first = errors.read().strip().splitlines()
            errors.close()
            self._close_streams(proc)
            reason = (first[0] if first else line.strip()) or "no endpoint printed"
            raise TechnicalFault(f"Chromium does not start: {reason}")
        errors.close()  # the child keeps its own descriptor
        self._proc, self._endpoint = proc, line.strip()

    def stop(self) -> None:
        """Close the browser (ends the server through its stdin); idempotent."""
        with self._lock:
            proc, self._proc, self._endpoint = self._proc, None, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._close_streams(proc)

    @staticmethod
    def _close_streams(proc: subprocess.Popen[str] | None) -> None:
        for stream in (proc.stdin, proc.stdout) if proc is not None else ():
            if stream and not stream.closed:
                stream.close()


def _readline(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """The first stdout line of ``proc``, '' if none within ``timeout_s``."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return box[0] if box else ""


class WorkerBrowser:
    """One worker thread's connection to the shared server; use it from that thread only.

    ``new_context`` is the flow's ``context_factory``: it connects on first use (a supplier
    stopped by the pre-flight costs no browser) and reconnects if the browser went away.
    """

    def __init__(self, server: BrowserServer, *, slow_mo: float | None = None):
        self.server = server
        self.slow_mo = server.settings.slow_mo_ms if slow_mo is None else slow_mo
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    def new_context(self) -> BrowserContext:
        try:
            if self._browser is None or not self._browser.is_connected():
                if self._playwright is None:
                    self._playwright = sync_playwright().start()
                self._browser = self._playwright.chromium.connect(
                    self.server.endpoint(), slow_mo=self.slow_mo, timeout=START_TIMEOUT_S * 1000
                )
            return self._browser.new_context()
        except PlaywrightError as exc:
            self._browser = None
            raise TechnicalFault(f"browser: {str(exc).splitlines()[0]}") from None

    def close(self) -> None:
        browser, playwright = self._browser, self._playwright
        self._browser = self._playwright = None
        try:
            if browser is not None and browser.is_connected():
                browser.close()
        except PlaywrightError:
            pass
        if playwright is not None:
            playwright.stop()
