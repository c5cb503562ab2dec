"""Logging: a secret logged on purpose never reaches a sink; run id and SIRET on every line."""
from __future__ import annotations

import json
import logging
from base64 import b64encode
from urllib.parse import quote_plus

import pytest
from loguru import logger

from bot.logs import recent_lines, setup_logging
from bot.secrets import registry
from bot.settings import Settings

SIRET = "73282932000074"
PASSWORD = "Zr8#kP2!wq$Lm4&x"
IMAP_PASSWORD = "imap-Pa55word-0123"
TOKEN = "tok_9f8e7d6c5b4a39281706"
TOKEN_URL = f"http://127.0.0.1:8765/account/activate?token={TOKEN}"
UNREGISTERED_TOKEN_URL = "http://127.0.0.1:8765/account/activate?token=never-registered-42x"


def _log_everything_by_mistake() -> None:
    registry.add(PASSWORD, "password")
    registry.add(TOKEN, "activation_token")
    logger.info("run-level line without a supplier")
    log = logger.bind(siret=SIRET)
    log.debug(f"typing password {PASSWORD} (url-encoded {quote_plus(PASSWORD)})")
    log.debug("opening {} then {}", TOKEN_URL, UNREGISTERED_TOKEN_URL)
    log.bind(answer=PASSWORD, link=TOKEN_URL).info("bound extras")
    log.debug(f"basic auth {b64encode(f'user:{PASSWORD}'.encode()).decode()}")
    log.debug(f"settings imap_password={IMAP_PASSWORD}")
    try:
        raise RuntimeError(f"login failed for password={PASSWORD} at {TOKEN_URL}")
    except RuntimeError:
        log.exception("flow crashed")
    logging.getLogger("httpx").warning(f"HTTP Request: GET {UNREGISTERED_TOKEN_URL}")


def _assert_clean(text: str) -> None:
    for leaked in (PASSWORD, quote_plus(PASSWORD), TOKEN, "never-registered-42x", IMAP_PASSWORD,
                   b64encode(f"user:{PASSWORD}".encode()).decode()[4:]):
        assert leaked not in text, f"a secret reached a sink: form #{len(leaked)}"
    assert registry.scan_bytes(text.encode()) == []


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("CHORUS_IMAP_PASSWORD", IMAP_PASSWORD)
    return Settings(artifacts_dir=tmp_path / "artifacts", log_level="DEBUG", _env_file=None)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_secret_reaches_any_sink(settings, capfd, fmt):
    settings.log_format = fmt
    log_file = setup_logging(settings, "run-20261127-0400")
    setup_logging(settings, "run-20261127-0400")  # idempotent: no duplicate sinks
    _log_everything_by_mistake()
    logger.remove()  # flush and close the file sink
    stderr = capfd.readouterr().err
    written = log_file.read_text(encoding="utf-8")
    assert log_file == settings.artifacts_dir / "logs" / "chorus-bot.log"

    for output in (stderr, written, "\n".join(recent_lines(SIRET))):
        _assert_clean(output)
        assert "********" in output
    assert "flow crashed" in stderr and "RuntimeError: login failed for password=********" in stderr

    lines = [line for line in stderr.splitlines() if line.strip()]
    if fmt == "json":
        records = [json.loads(line) for line in lines]  # every line is one JSON object
        assert len(records) == 8
        assert all(r["run_id"] == "run-20261127-0400" for r in records)
        assert [r["siret"] for r in records] == ["-"] + [SIRET] * 6 + ["-"]
        crashed = next(r for r in records if r["message"] == "flow crashed")
        assert "RuntimeError" in crashed["exception"]
        assert crashed["extra"] == {}
        bound = next(r for r in records if r["message"] == "bound extras")
        assert bound["extra"] == {"answer": "********", "link": "http://127.0.0.1:8765/account/activate?token=********"}
    else:
        heads = [line for line in lines if line[:4].isdigit()]  # traceback lines belong to a record
        assert len(heads) == 8
        assert all(" | run-20261127-0400 | " in line for line in heads)
        assert heads[0].split(" | ")[3] == "-"
        assert all(line.split(" | ")[3] == SIRET for line in heads[1:7])
        assert written.count("\n") >= 8


def test_ring_keeps_the_last_50_lines_of_each_supplier(settings):
    setup_logging(settings, "run-ring")
    log = logger.bind(siret="11111111111111")
    for i in range(60):
        log.debug(f"step {i}")
    logger.bind(siret="22222222222222").info("other supplier")
    logger.remove()
    lines = recent_lines("11111111111111")
    assert len(lines) == 50
    assert lines[0].endswith("step 10") and lines[-1].endswith("step 59")
    assert recent_lines("22222222222222")[-1].endswith("other supplier")
    assert recent_lines("99999999999999") == []


def test_lines_below_the_level_are_not_written(settings, capfd):
    settings.log_level = "INFO"
    setup_logging(settings, "run-level")
    logger.debug("hidden detail")
    logger.info("visible step")
    logger.remove()
    err = capfd.readouterr().err
    assert "visible step" in err and "hidden detail" not in err


def test_a_foreign_sink_sees_a_masked_exception_too(settings):
    """A sink added by someone else (with loguru's own exception formatting) is safe as well."""
    setup_logging(settings, "run-foreign")
    registry.add(PASSWORD, "password")
    seen: list[str] = []
    logger.add(lambda message: seen.append(str(message)), format="{message}\n{exception}", diagnose=True)
    secret_local = PASSWORD  # noqa: F841 - `diagnose` would print it from the frame
    try:
        raise ValueError(f"bad password {PASSWORD}")
    except ValueError:
        logger.exception("foreign sink")
    logger.remove()
    text = "".join(seen)
    assert "foreign sink" in text and "ValueError: bad password ********" in text
    _assert_clean(text)
