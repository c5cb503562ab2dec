"""The `bot` fixture of the batch tests (helpers: batchtools.py)."""
from __future__ import annotations

import os

import pytest

from batchtools import Bot


@pytest.fixture
def bot(bot_env, tmp_path) -> Bot:
    env = {**os.environ, **bot_env, "CHORUS_RETRY_BACKOFF_S": "0.5", "CHORUS_LOG_LEVEL": "INFO"}
    env.pop("CHORUS_CONCURRENCY", None)
    return Bot(env=env, cwd=tmp_path)
