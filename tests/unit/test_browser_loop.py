"""The browser loop's bound on a caller's wait (no browser: a call that never completes)."""
from __future__ import annotations

import asyncio

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bot.browser_loop import ANSWER_MARGIN_S, BrowserLoop


@pytest.fixture
def loop():
    bridge = BrowserLoop(default_timeout_s=30.0)
    yield bridge
    bridge.stop()


def test_a_caller_stops_waiting_at_the_bound_and_the_call_is_cancelled(loop):
    started: list[asyncio.Future] = []

    def never() -> asyncio.Future:
        started.append(asyncio.get_running_loop().create_future())
        return started[0]

    with pytest.raises(PlaywrightTimeout, match=r"did not answer wait_for_function\(\) within 0.2 s"):
        loop.run(never, bound_s=0.2, what="wait_for_function()")
    assert loop.run(lambda: 42, bound_s=5) == 42  # the loop still serves the next call
    assert started[0].cancelled(), "the abandoned call was cancelled on the loop"
    assert loop.run(lambda: [t for t in loop._calls if t is not asyncio.current_task()]) == []


def test_the_bound_is_twice_the_calls_timeout_plus_a_margin(loop):
    assert loop.bound_s(None) == 60.0 + ANSWER_MARGIN_S  # the default timeout
    assert loop.bound_s(5_000) == 10.0 + ANSWER_MARGIN_S
    assert loop.bound_s(0) is None  # Playwright's "no timeout": no bound either
