"""The HTML report's rules that need no browser: what it leaves out, what it says of a killed run."""
from __future__ import annotations

import base64
import re
import json
import struct
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot import report_html
from bot.journal import Journal
from bot.models import RegistrationResult, Status, Supplier
from bot.report_html import RunNotFound, load_run, render_html, run_settings
from bot.settings import load_settings

SIRET = "80743987200019"


@pytest.fixture
def t0() -> datetime:
    """When the test's supplier started: after its run's start (taken when the test runs, not
    when the module is collected, which may be long before in a whole-suite run)."""
    return datetime.now(timezone.utc) + timedelta(minutes=1)


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\0" + b"\x80\x20\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _supplier(siret: str = SIRET) -> Supplier:
    return Supplier(siret=siret, email="ap+1@ssc.example", first_name="Élodie", last_name="Roux", phone="0472000000",
                    company_name="Boulangerie <Dupré> & Fils")


@pytest.fixture
def settings(tmp_path):
    return load_settings(
        _env_file=None, portal_url="https://robot:Hunter2-Secret@chorus.example/portal?k=v",
        imap_password="Imap-Pass-9876", secret_key="Key-Not-For-Reports-123",
        state_db=tmp_path / "state.sqlite3", artifacts_dir=tmp_path / "artifacts",
    )


def _failed_attempt(settings, run_id: str, png: bytes, t0: datetime) -> list[str]:
    folder = settings.artifacts_dir / run_id / SIRET / "attempt-1"
    folder.mkdir(parents=True)
    (folder / "failure.png").write_bytes(png)
    (folder / "failure.json").write_text(json.dumps(
        {"time": (t0 + timedelta(seconds=5)).isoformat(), "screen": "step 2", "step": "structure",
         "error": "TechnicalFault", "message": "HTTP 500"}))
    return [str(folder / "failure.png"), str(folder / "failure.json")]


def test_a_finished_run_shows_no_secret_escapes_text_and_embeds_its_screenshot(settings, t0):
    png = _png(40, 30)
    artifacts = _failed_attempt(settings, "run-1", png, t0)
    failed = RegistrationResult(
        siret=SIRET, email="ap+1@ssc.example", status=Status.failed, message="<b>boom</b> ?token=abcdef123456",
        attempts=1, started_at=t0, finished_at=t0 + timedelta(seconds=10), step="structure", artifacts=artifacts,
    )
    with Journal(settings.state_db) as journal:
        journal.start_run("run-1", run_settings(settings, 4, dry_run=False))
        journal.start_attempt(_supplier(), "run-1")
        journal.finish(failed)
        journal.finish_run("run-1", [failed])
        html = render_html(load_run(journal, settings))

    assert "https://chorus.example/portal" in html
    for secret in ("Hunter2-Secret", "robot", "Imap-Pass-9876", "Key-Not-For-Reports-123", "abcdef123456"):
        assert secret not in html
    assert "&lt;b&gt;boom&lt;/b&gt;" in html and "<b>boom" not in html
    assert "Boulangerie &lt;Dupré&gt; &amp; Fils" in html
    assert "data:image/png;base64," + base64.b64encode(png).decode() in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing to fetch


def test_a_screenshot_over_the_limit_is_named_not_embedded(settings, monkeypatch, t0):
    monkeypatch.setattr(report_html, "MAX_SCREENSHOT_BYTES", 100)
    artifacts = _failed_attempt(settings, "run-2", _png(200, 200) + b"\0" * 200, t0)
    failed = RegistrationResult(siret=SIRET, email="ap+1@ssc.example", status=Status.failed, message="x",
                                attempts=1, started_at=t0, finished_at=t0 + timedelta(seconds=3), artifacts=artifacts)
    with Journal(settings.state_db) as journal:
        journal.start_run("run-2", {})
        journal.finish_run("run-2", [failed])
        html = render_html(load_run(journal, settings, "run-2"))
    assert "data:image/png" not in html
    assert re.search(r"screenshot not embedded: \d+ (bytes|KB), over the 100 bytes limit per image", html)
    assert "attempt-1/failure.png" in html  # where to find it instead


def test_a_killed_run_is_told_from_the_journal(settings):
    with Journal(settings.state_db) as journal:
        journal.start_run("run-3", {"Concurrency": 2})
        journal.start_attempt(_supplier(), "run-3")
        report = load_run(journal, settings)
    assert not report.complete
    (line,) = report.lines
    assert line.result.status is Status.failed and line.result.message.startswith("interrupted at new")
    assert "did not record its end" in render_html(report)


def test_an_unknown_run_is_one_line(settings):
    with Journal(settings.state_db) as journal:
        with pytest.raises(RunNotFound, match="no run in the journal yet"):
            load_run(journal, settings)
        with pytest.raises(RunNotFound, match="no run nope in the journal"):
            load_run(journal, settings, "nope")


def test_the_report_is_the_same_file_twice(settings, tmp_path: Path, t0):
    ok = RegistrationResult(siret=SIRET, email="ap+1@ssc.example", status=Status.activated, message="account activated",
                            attempts=1, started_at=t0, finished_at=t0 + timedelta(seconds=7))
    with Journal(settings.state_db) as journal:
        journal.start_run("run-4", {})
        journal.finish_run("run-4", [ok])
        first, second = (render_html(load_run(journal, settings, "run-4")) for _ in range(2))
    assert first == second
    assert first.count('class="bar"') == 1
