"""Fixtures of the fault suite (helpers: faulttools.py).

The suite drives the same real things as tests/batch (the `chorus-bot` CLI in a
subprocess, one Chromium, the sandbox over HTTP, its Dovecot over IMAP with TLS) and
reuses that folder's helpers, and the trace tests' secret scanner: both folders are put
on ``sys.path`` here, as pytest does for the folder of each test module it collects.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
for helpers in (TESTS / "batch", TESTS / "trace"):
    if str(helpers) not in sys.path:
        sys.path.insert(0, str(helpers))

from batchtools import Bot  # noqa: E402  (after the sys.path set-up above)

# Short timeouts, so that a fault costs seconds, not the production minutes.
FAULT_SETTINGS = {
    "CHORUS_CONCURRENCY": "4",
    "CHORUS_RETRY_BACKOFF_S": "0.2",
    "CHORUS_PAGE_TIMEOUT_S": "20",
    "CHORUS_AUTOFILL_TIMEOUT_S": "30",
    "CHORUS_ACTIVATION_TIMEOUT_S": "60",
    "CHORUS_IMAP_POLL_S": "1",
    "CHORUS_LOG_LEVEL": "INFO",
}


@pytest.fixture
def bot(bot_env, tmp_path) -> Bot:
    """`chorus-bot` against the sandbox with the suite's short timeouts, in the test's folder."""
    return Bot(env={**os.environ, **bot_env, **FAULT_SETTINGS}, cwd=tmp_path)
