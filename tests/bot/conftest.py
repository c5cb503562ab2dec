"""Fixtures of the registration tests (helpers: register_support.py)."""
from __future__ import annotations

from typing import Iterator

import pytest
from playwright.sync_api import Browser

from register_support import Runner


@pytest.fixture
def runner(browser: Browser, bot_env: dict[str, str], portal) -> Iterator[Runner]:
    """Depends on `portal`: the sandbox is reset first and the CEA hits are checked after."""
    run = Runner(browser=browser, env=bot_env)
    try:
        yield run
    finally:
        run.close()
