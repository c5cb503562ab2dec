"""One Chromium, one Playwright driver and one asyncio loop for a whole batch, many threads.

Why this shape: a batch runs N suppliers at once, and each supplier's flow is plain blocking
code (page objects, the IMAP wait, the journal) that reads like the supplier guide. With
Playwright's sync API each of those threads needs its own ``sync_playwright()``, i.e. its
own Node driver relaying every message: N drivers (about 85 MB and a share of the CPU each)
plus one more process to hold the shared browser. Here ONE thread runs an asyncio loop with
Playwright's async API: one driver, which launches Chromium itself over a pipe, and every
context of the batch goes through it. The worker threads keep their blocking code: what they
hold are ``Synced`` objects, sync stand-ins for the async ones, whose calls run on the loop
(``asyncio.run_coroutine_threadsafe``) while the calling thread waits for the answer.

- Every call runs on the loop's thread (Playwright's objects are not thread-safe, some of their
  plain methods schedule protocol messages), except those that only build a locator
  (``page.get_by_role(...)``, ``locator.filter(...)``): a selector string, nothing more.
- A handler given to the browser (``page.on``, a CDP session's ``on``) runs on the loop's
  thread, where nothing may block: its Playwright calls (``session.send(...)``) start there,
  and the loop awaits them, in order, once the handler returns. A handler may read and fire;
  it cannot use what a call returns.
- ``expect`` here takes a ``Synced`` locator or page as well as a sync one, so the page
  objects work on both (the tests still hand them pytest-playwright's sync pages).
- Errors are Playwright's own classes (``playwright.sync_api.Error`` and ``TimeoutError`` are
  the async API's), so the flows' ``except`` clauses are unchanged.
- No call waits forever. Playwright's driver may never answer a call that was in flight when
  its browser died (``tests/batch/test_kill_resume.py``'s Chromium kill, about one run in ten:
  a ``wait_for_function`` of ``press()`` outlived its own timeout by minutes, and the batch
  hung on it). So the browser's ``disconnected`` event fails every call then in flight with
  ``TargetClosedError``, as a call made after it fails; and a caller stops waiting at a bound
  (twice the call's timeout, or the loop's default, plus a margin) with Playwright's
  ``TimeoutError``. The flows then retry the supplier, as after any crash, instead of holding
  their thread.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import CancelledError as FutureCancelled, Future, TimeoutError as FutureTimeout
from typing import Any

from loguru import logger
from playwright._impl._async_base import AsyncBase
from playwright._impl._errors import TargetClosedError
from playwright.async_api import async_playwright, expect as async_expect
from playwright.sync_api import Error as PlaywrightError, TimeoutError as PlaywrightTimeout, expect as sync_expect

from bot.browser import launch_options, require_chromium
from bot.errors import TechnicalFault
from bot.secrets import first_line
from bot.settings import Settings

# The calls a handler made on the loop's thread, awaited once it returns (see the module doc).
_HANDLER_CALLS: contextvars.ContextVar[list[Awaitable[Any]] | None] = contextvars.ContextVar(
    "chorus_handler_calls", default=None
)
# Methods that only build a locator (a selector string, no message to the browser): they run in
# the calling thread, as a page object builds several per screen (bench/profile.py --py-spy).
_BUILDS_LOCATOR = frozenset({
    "locator", "get_by_role", "get_by_text", "get_by_label", "get_by_placeholder", "get_by_alt_text",
    "get_by_title", "get_by_test_id", "filter", "and_", "or_", "nth", "frame_locator",
})
# Methods whose callable arguments are handlers the browser calls back.
# (``remove_listener`` and ``unroute`` with a handler are not among them: the bot never takes a
# handler back, its contexts close instead.)
_TAKES_HANDLER = frozenset({"on", "once", "route", "add_locator_handler"})
# How long past a call's own timeout (doubled) its caller still waits for the driver's answer.
ANSWER_MARGIN_S = 30.0


class BrowserLoop:
    """A thread running an asyncio event loop, and the bridge from other threads into it."""

    def __init__(self, name: str = "browser-loop", *, default_timeout_s: float = 30.0) -> None:
        self.default_timeout_s = default_timeout_s
        self.loop = asyncio.new_event_loop()
        self._calls: set[asyncio.Task[Any]] = set()  # the calls in flight (used on the loop only)
        self._aborted: dict[asyncio.Task[Any], str] = {}
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.set_exception_handler(_unretrieved)
        self.loop.run_forever()

    @property
    def on_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def bound_s(self, timeout_ms: float | None) -> float | None:
        """How long a caller waits for a call given ``timeout=timeout_ms`` (None: the default
        timeout; 0: Playwright's "no timeout", so no bound either)."""
        if timeout_ms == 0:
            return None
        timeout_s = self.default_timeout_s if timeout_ms is None else timeout_ms / 1000
        return 2 * timeout_s + ANSWER_MARGIN_S

    def run(self, make: Callable[[], Any], *, bound_s: float | None = None, what: str = "a call") -> Any:
        """``make()`` on the loop, awaited there if it returns an awaitable; its result here.

        ``bound_s``: wait at most that long (None: no bound), then cancel the call and raise
        Playwright's TimeoutError naming ``what``. A call aborted by ``abort_calls`` raises
        TargetClosedError."""
        if self.on_loop:
            result = make()
            if inspect.isawaitable(result):
                calls = _HANDLER_CALLS.get()
                if calls is None:
                    raise RuntimeError("a blocking Playwright call on the browser loop's own thread")
                calls.append(result)
                return None
            return result

        async def call() -> Any:
            task = asyncio.current_task()
            assert task is not None
            self._calls.add(task)
            try:
                result = make()
                return (await result) if inspect.isawaitable(result) else result
            except asyncio.CancelledError:
                reason = self._aborted.get(task)
                if reason is None:
                    raise
                raise TargetClosedError(reason) from None
            finally:
                self._calls.discard(task)
                self._aborted.pop(task, None)

        future: Future[Any] = asyncio.run_coroutine_threadsafe(call(), self.loop)
        try:
            return future.result(timeout=bound_s)
        except FutureTimeout:
            future.cancel()
            raise PlaywrightTimeout(f"the browser did not answer {what} within {bound_s:g} s") from None
        except FutureCancelled:  # the loop stopped under it (BrowserLoop.stop)
            raise TargetClosedError(f"the browser loop stopped during {what}") from None

    def abort_calls(self, reason: str) -> None:
        """Fail every call now in flight with TargetClosedError(reason): their browser is gone,
        and the driver may never answer them. Runs on the loop's thread (a browser's handler)."""
        for task in list(self._calls):
            if not task.done():
                self._aborted[task] = reason
                task.cancel()

    def stop(self) -> None:
        """End the loop and its thread (after the caller closed what ran on it). A call still
        waiting on it raises TargetClosedError, not left hanging; a later call raises
        RuntimeError."""
        if self.loop.is_closed():
            return

        async def cancel_the_rest() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        try:
            asyncio.run_coroutine_threadsafe(cancel_the_rest(), self.loop).result(timeout=10)
        except Exception:  # noqa: BLE001 - a loop that no longer answers is stopped all the same
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        if not self._thread.is_alive():
            self.loop.close()

    # -- wrapping ---------------------------------------------------------------------------

    def wrap(self, value: Any) -> Any:
        if isinstance(value, AsyncBase):
            return Synced(value, self)
        if isinstance(value, list):
            return [self.wrap(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.wrap(item) for item in value)
        if isinstance(value, dict):
            return {key: self.wrap(item) for key, item in value.items()}
        return value

    def handler(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """The async handler the browser calls for ``function`` (see the module doc)."""
        # As Playwright's own wrappers do: a handler gets as many arguments as it takes.
        parameters = inspect.signature(function).parameters.values()
        takes = None if any(p.kind is p.VAR_POSITIONAL for p in parameters) else len(parameters)

        async def handle(*args: Any) -> None:
            calls: list[Awaitable[Any]] = []
            token = _HANDLER_CALLS.set(calls)
            try:
                function(*(self.wrap(arg) for arg in args[:takes]))
            finally:
                _HANDLER_CALLS.reset(token)
            for started in calls:
                await started

        return handle


def _unretrieved(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """What asyncio would print to stderr, into the log instead: a debug line for Playwright's
    own futures that nobody awaited once its driver or browser closed (the calls that failed
    said so already), a warning for anything else (a handler that raised)."""
    text = f"browser loop: {context.get('message')}: {context.get('exception')!r}"
    if "closed" in repr(context.get("exception")).lower():
        logger.debug(text)
    else:
        logger.warning(text)


def _unwrap(value: Any) -> Any:
    if isinstance(value, Synced):
        return value._target
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_unwrap(item) for item in value)
    if isinstance(value, dict):
        return {key: _unwrap(item) for key, item in value.items()}
    return value


class Synced:
    """A sync stand-in for one of Playwright's async objects (a page, a locator, a context...).

    Attributes that are Playwright objects come back wrapped; methods run on the loop (see
    ``BrowserLoop.run``) and their results come back wrapped."""

    __slots__ = ("_target", "_loop")

    def __init__(self, target: AsyncBase, loop: BrowserLoop) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_loop", loop)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value) or isinstance(value, AsyncBase):
            return self._loop.wrap(value)
        bridge = self._loop
        if name in _BUILDS_LOCATOR:
            return lambda *args, **kwargs: bridge.wrap(value(*_unwrap(args), **_unwrap(kwargs)))
        takes_handler = name in _TAKES_HANDLER

        @functools.wraps(value)
        def method(*args: Any, **kwargs: Any) -> Any:
            args, kwargs = _unwrap(args), _unwrap(kwargs)
            if takes_handler:
                args = tuple(bridge.handler(a) if callable(a) and not isinstance(a, AsyncBase) else a for a in args)
                kwargs = {k: bridge.handler(v) if k in ("f", "handler") and callable(v) else v
                          for k, v in kwargs.items()}
            bound = bridge.bound_s(kwargs.get("timeout"))
            return bridge.wrap(bridge.run(lambda: value(*args, **kwargs), bound_s=bound, what=f"{name}()"))

        return method

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self._target).__name__}: read-only through the browser loop")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Synced) and other._target is self._target

    def __hash__(self) -> int:
        return hash(id(self._target))

    def __repr__(self) -> str:
        return f"Synced({self._target!r})"

    def __str__(self) -> str:
        return str(self._target)


def expect(actual: Any, message: str | None = None) -> Any:
    """Playwright's ``expect`` for a sync object and for a ``Synced`` one alike."""
    if isinstance(actual, Synced):
        bridge = actual._loop
        return Synced(async_expect(actual._target, message), bridge)  # builds an object, nothing more
    return sync_expect(actual, message)


class SharedBrowser:
    """The batch's Chromium, launched on first use by the loop's one driver, relaunched if it
    died (a crash); ``new_context()`` may be called from any thread (it is the flows'
    ``context_factory``) and returns a ``Synced`` browser context."""

    def __init__(self, settings: Settings, *, headless: bool | None = None, slow_mo: float | None = None):
        self.settings = settings
        self.headless = headless
        self.slow_mo = slow_mo
        self._lock = threading.Lock()
        self._loop: BrowserLoop | None = None
        self._playwright: Any = None  # async Playwright, used on the loop only
        self._browser: Any = None  # async Browser

    def warm_up(self) -> None:
        """Launch the browser now, in the background, while the batch connects its mailbox and
        starts its workers: the first supplier then does not wait for it. A launch that fails
        here is tried again, and reported, by the first ``new_context``."""
        threading.Thread(target=self._warm_up, name="browser-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        try:
            self._launched()
        except Exception:  # noqa: BLE001 - new_context tries again and says why
            pass

    def _launched(self) -> tuple[BrowserLoop, Any]:
        """The loop and a connected browser, launched (again) if needed."""
        with self._lock:
            if self._loop is None:
                self._loop = BrowserLoop(default_timeout_s=self.settings.page_timeout_s)
            loop = self._loop
            if self._browser is None or not loop.run(self._browser.is_connected):
                self._launch(loop)
            return loop, self._browser

    def new_context(self) -> Any:
        """A new browser context; a browser or driver found dead is replaced once, at once."""
        for attempt in (1, 2):
            loop, browser = self._launched()
            try:
                return loop.wrap(loop.run(browser.new_context, bound_s=loop.bound_s(None), what="new_context()"))
            except PlaywrightError as exc:
                # A driver killed under a connected-looking browser answers every call with
                # "closed": start both afresh (the contexts still open on them were lost anyway).
                self._discard(loop, browser)
                if attempt == 2:
                    raise TechnicalFault(f"browser: {first_line(exc)}") from None
        raise AssertionError("unreachable")

    def _discard(self, loop: BrowserLoop, browser: Any) -> None:
        with self._lock:
            if self._browser is not browser:
                return  # another thread replaced it already
            self._browser = None
            try:
                loop.run(browser.close, bound_s=loop.bound_s(None), what="close()")
            except Exception:  # noqa: BLE001 - already gone
                pass
            self._stop_playwright(loop)

    def _launch(self, loop: BrowserLoop) -> None:
        options = launch_options(self.settings, headless=self.headless, slow_mo=self.slow_mo)
        try:
            if self._playwright is None:
                self._playwright = loop.run(lambda: async_playwright().start())
            chromium = self._playwright.chromium
            require_chromium(options, chromium.executable_path)
            # The driver ignores the terminal's Ctrl-C and must not close the browser on it
            # (Playwright's default): the flows in flight finish, as the batch promises.
            async def launch() -> Any:
                browser = await chromium.launch(
                    **options, handle_sigint=False, handle_sigterm=False, handle_sighup=False,
                )
                # A crash: the calls in flight fail now, as later ones do (see the module doc).
                browser.on("disconnected", lambda _: loop.abort_calls("the browser closed or crashed"))
                return browser

            self._browser = loop.run(launch, bound_s=loop.bound_s(None), what="launch()")
        except PlaywrightError as exc:
            self._browser = None
            self._stop_playwright(loop)  # a driver that failed once starts afresh next time
            raise TechnicalFault(f"Chromium does not start: {first_line(exc)}") from None

    def _stop_playwright(self, loop: BrowserLoop) -> None:
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            try:
                loop.run(playwright.stop, bound_s=loop.bound_s(None), what="stop()")
            except Exception:  # noqa: BLE001 - a driver already gone
                pass

    def stop(self) -> None:
        """Close the browser and the driver, end the loop; idempotent."""
        with self._lock:
            loop, browser, self._loop, self._browser = self._loop, self._browser, None, None
            if loop is None:
                return
            if browser is not None:
                try:
                    loop.run(browser.close, bound_s=loop.bound_s(None), what="close()")
                except PlaywrightError:
                    pass
            self._stop_playwright(loop)
            loop.stop()
