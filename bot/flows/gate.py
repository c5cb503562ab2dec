"""Is the portal answering at all? A probe of its home page, and the gate a batch waits at.

Why: a maintenance window (every page answers 503 "under maintenance") or a portal that
stopped answering is nobody's fault among the suppliers in flight. Retried one by one,
seconds apart, each would burn its attempts against the same closed door and end
`failed` for a window of twenty seconds. So after any technical fault the batch asks the
home page directly; when that fails too, the gate closes: no supplier starts and no
attempt is retried while one thread probes the home page every few seconds, and the gate
opens as soon as it answers. After ``max_down_s`` the gate gives up: attempts waiting at
it fail as technical faults, and the batch starts no one else.
"""
from __future__ import annotations

import threading
import time

import httpx
from loguru import logger
from rich.console import Console

from bot.errors import TechnicalFault

PORTAL_DOWN_MAX_S = 900.0  # a longer window: stop, and let the next (scheduled) run resume
PROBE_EVERY_S = 3.0


class PortalDown(Exception):
    """The portal's home page did not answer well. ``str(exc)`` is one line.

    ``reachable`` is False when no HTTP answer came at all (refused, timed out, no such host).
    """

    def __init__(self, message: str, *, reachable: bool):
        super().__init__(message)
        self.reachable = reachable


def check_portal(url: str, timeout_s: float) -> None:
    """Raise PortalDown unless ``url``'s home page answers 2xx/3xx within ``timeout_s``."""
    home = url.rstrip("/") + "/"
    try:
        answer = httpx.get(home, timeout=timeout_s, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise PortalDown(f"{url} is unreachable ({type(exc).__name__})", reachable=False) from None
    if answer.status_code >= 400:
        raise PortalDown(f"{url} answers HTTP {answer.status_code}", reachable=True)


class PortalGate:
    """Open while the portal answers; workers call ``wait()`` before each attempt."""

    def __init__(
        self, url: str, timeout_s: float, console: Console, *,
        max_down_s: float = PORTAL_DOWN_MAX_S, probe_every_s: float = PROBE_EVERY_S,
    ):
        self.url = url
        self.timeout_s = timeout_s
        self.console = console
        self.max_down_s = max_down_s
        self.probe_every_s = probe_every_s
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()  # one probe after a fault at a time
        self._stopped = threading.Event()
        self.gave_up: str | None = None  # why, once the portal stayed down past max_down_s

    def wait(self) -> None:
        """Return at once while the portal answers; else block until it does again.

        Raises TechnicalFault once the gate gave up (down longer than ``max_down_s``).
        """
        self._open.wait()
        if self.gave_up:
            raise TechnicalFault(self.gave_up)

    def after_fault(self) -> None:
        """An attempt met a technical fault: if the portal itself does not answer, close the gate."""
        with self._lock:
            if not self._open.is_set() or self.gave_up:
                return
            try:
                check_portal(self.url, self.timeout_s)
            except PortalDown as exc:
                self.close(str(exc))

    def close(self, reason: str) -> None:
        """Hold every attempt until the home page answers again (probed by a thread of its own)."""
        self._open.clear()
        self._say(f"the portal is unavailable ({reason}): no supplier starts or retries until it answers again")
        threading.Thread(target=self._probe_until_up, args=(time.monotonic(),), name="portal-gate", daemon=True).start()

    def stop(self) -> None:
        """End the probing (the run is over); whoever waits is let through."""
        self._stopped.set()
        self._open.set()

    def _probe_until_up(self, since: float) -> None:
        while not self._stopped.wait(self.probe_every_s):
            down_for = time.monotonic() - since
            try:
                check_portal(self.url, self.timeout_s)
            except PortalDown as exc:
                if down_for < self.max_down_s:
                    continue
                self.gave_up = f"the portal has not answered for {down_for / 60:.0f} min ({exc}): the batch stops; the next run resumes it"
                self._say(self.gave_up)
            else:
                self._say(f"the portal answers again after {down_for:.0f} s: resuming")
            break
        self._open.set()

    def _say(self, message: str) -> None:
        logger.warning(message)
        self.console.print(message, highlight=False, markup=False, soft_wrap=True)
