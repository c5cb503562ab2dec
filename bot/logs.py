"""Logging set-up: loguru sinks, run id and SIRET on every line, secrets masked before any sink.

Why the masking sits in the patcher and not in each sink: the patcher runs once per record,
before every handler (ours and any added later, e.g. by a test), so no sink can ever see an
unmasked message, bound value or traceback. The patcher also renders the final line itself
(text and JSON) and the sinks only print that pre-rendered, pre-masked string. The logged
exception is replaced in the record by a stand-in carrying its masked traceback as text and
no frames, so no sink (loguru's `diagnose` prints local variables) can reach the original.

Sinks: stderr (LOG_FORMAT text/json, LOG_LEVEL), a rotating file (LOG_FILE or
<ARTIFACTS_DIR>/logs/chorus-bot.log, 10 MB x 10 files, same format and level) and an
in-memory ring of the last 50 text lines per SIRET, which `TraceRecorder.capture_failure`
writes next to a failed attempt's trace.
"""
from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from loguru import logger

from bot.private import private_dir, private_opener
from bot.secrets import registry
from bot.settings import LogFormat, Settings

RING_SIZE = 50
NO_SIRET = "-"
_RESERVED = {"run_id", "siret", "_text", "_json"}

_ring_lock = threading.Lock()
_rings: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=RING_SIZE))


def default_log_file(settings: Settings) -> Path:
    return settings.log_file or settings.artifacts_dir / "logs" / "chorus-bot.log"


class LoggedException(Exception):
    """Stands in a log record for the exception logged: its masked traceback, as text."""


def _masked(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return registry.mask(str(value))


def _patch(record: dict) -> None:
    """Mask message, bound values and exception text; pre-render the text and JSON lines."""
    record["message"] = registry.mask(record["message"])
    extra = record["extra"]
    for key in list(extra):
        if key not in ("_text", "_json"):
            extra[key] = _masked(extra[key])
    extra.setdefault("run_id", NO_SIRET)
    extra.setdefault("siret", NO_SIRET)
    exc_text = ""
    if record["exception"] is not None and record["exception"].type is not LoggedException:
        type_, value, tb = record["exception"]
        exc_text = registry.mask("".join(traceback.format_exception(type_, value, tb)).rstrip())
        # Any other sink (a test's, loguru's default) formats this stand-in: masked, no frames
        # whose variables loguru's `diagnose` could print.
        record["exception"] = type(record["exception"])(LoggedException, LoggedException(exc_text), None)
    others = {k: v for k, v in extra.items() if k not in _RESERVED}
    text = (
        f"{record['time']:%Y-%m-%d %H:%M:%S.%f}"[:-3]
        + f" | {record['level'].name:<8} | {extra['run_id']} | {extra['siret']}"
        + f" | {record['name']}:{record['function']}:{record['line']} | {record['message']}"
    )
    if others:
        text += " | " + " ".join(f"{k}={v}" for k, v in others.items())
    if exc_text:
        text += "\n" + exc_text
    extra["_text"] = text
    payload = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "run_id": extra["run_id"],
        "siret": extra["siret"],
        "logger": record["name"],
        "function": record["function"],
        "line": record["line"],
        "message": record["message"],
        "extra": others,
    }
    if exc_text:
        payload["exception"] = exc_text
    extra["_json"] = json.dumps(payload, ensure_ascii=False, default=str)


def _text_format(_record: dict) -> str:
    return "{extra[_text]}\n"


def _json_format(_record: dict) -> str:
    return "{extra[_json]}\n"


def _ring_sink(message) -> None:
    extra = message.record["extra"]
    with _ring_lock:
        _rings[str(extra.get("siret", NO_SIRET))].append(extra["_text"])


def recent_lines(siret: str) -> list[str]:
    """The last 50 (masked) text lines logged with this SIRET bound, oldest first."""
    with _ring_lock:
        return list(_rings.get(siret, ()))


class _InterceptHandler(logging.Handler):
    """Routes stdlib logging (httpx logs request URLs) through loguru, hence through the mask."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame, depth = logging.currentframe(), 0
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame, depth = frame.f_back, depth + 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


def setup_logging(settings: Settings, run_id: str) -> Path:
    """(Re)configure every sink for this run; idempotent. Returns the log file path.

    Registers the settings' own secrets (IMAP password, SECRET_KEY) with the registry first,
    so that even a line logging the settings by mistake is masked.
    """
    for value in settings.known_secrets():
        registry.add(value, label="setting")
    logger.remove()
    logger.configure(extra={"run_id": run_id, "siret": NO_SIRET}, patcher=_patch)
    fmt = _json_format if LogFormat(settings.log_format) is LogFormat.json else _text_format
    common = {"format": fmt, "colorize": False, "backtrace": False, "diagnose": False}
    logger.add(sys.stderr, level=settings.log_level, **common)
    log_file = default_log_file(settings)
    private_dir(log_file.parent)
    logger.add(  # 0600, rotated files too: every line names a supplier
        log_file, level=settings.log_level, rotation="10 MB", retention=10, encoding="utf-8",
        opener=private_opener, **common,
    )
    logger.add(_ring_sink, level="DEBUG", format="{message}", colorize=False, backtrace=False, diagnose=False)
    level = logging.getLevelName(settings.log_level if settings.log_level != "SUCCESS" else "INFO")
    logging.basicConfig(handlers=[_InterceptHandler()], level=level if isinstance(level, int) else 0, force=True)
    return log_file


# Mask from the first import on, before `setup_logging` runs (loguru's default stderr sink).
logger.configure(patcher=_patch)
