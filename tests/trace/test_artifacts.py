"""Finding the latest trace, `chorus-bot trace`, and pruning old runs (no browser needed)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import json
import zipfile
from base64 import b64encode
from urllib.parse import quote_plus

from bot.secrets import MASK, registry
from bot.settings import Settings
from bot.tracing import RUN_MARKER, latest_trace, prune_runs, scrub_html, scrub_zip

SIRET = "73282932000074"


def make_run(root: Path, run_id: str, age_days: float = 0, sirets: tuple[str, ...] = (SIRET,)) -> Path:
    """A run folder as TraceRecorder leaves it, its marker `age_days` old."""
    run = root / run_id
    for siret in sirets:
        attempt = run / siret / "attempt-1"
        attempt.mkdir(parents=True)
        (attempt / "trace.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip
        (attempt / "failure.png").write_bytes(b"\x89PNG")
    marker = run / RUN_MARKER
    marker.touch()
    stamp = time.time() - age_days * 86400
    for path in [marker, *run.rglob("trace.zip")]:
        os.utime(path, (stamp, stamp))
    return run


def settings_for(root: Path, **more) -> Settings:
    return Settings(artifacts_dir=root, _env_file=None, **more)


def test_latest_trace_is_the_newest_of_that_supplier(tmp_path):
    make_run(tmp_path, "run-old", age_days=2)
    make_run(tmp_path, "run-new", age_days=1)
    make_run(tmp_path, "run-other", age_days=0, sirets=("11111111111111",))
    settings = settings_for(tmp_path)
    assert latest_trace(settings, SIRET) == tmp_path / "run-new" / SIRET / "attempt-1" / "trace.zip"
    assert latest_trace(settings, "22222222222222") is None


def test_prune_by_age_and_count_spares_foreign_folders_and_the_current_run(tmp_path):
    for i in range(5):
        make_run(tmp_path, f"run-{i}", age_days=i)  # run-0 newest
    make_run(tmp_path, "run-ancient", age_days=40)
    (tmp_path / "logs").mkdir()  # not a run: no marker, never touched
    (tmp_path / "notes").mkdir()
    removed = prune_runs(settings_for(tmp_path, artifacts_keep_runs=3, artifacts_keep_days=30), keep="run-4")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["logs", "notes", "run-0", "run-1", "run-2", "run-4"]
    assert sorted(p.name for p in removed) == ["run-3", "run-ancient"]


def test_prune_by_age_alone(tmp_path):
    make_run(tmp_path, "run-recent", age_days=1)
    make_run(tmp_path, "run-stale", age_days=8)
    prune_runs(settings_for(tmp_path, artifacts_keep_days=7))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-recent"]


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_")}
    env["CHORUS_ARTIFACTS_DIR"] = str(root)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, cwd=root, capture_output=True, text=True, timeout=60
    )


def test_trace_command_prints_the_path_and_the_show_trace_line(tmp_path):
    make_run(tmp_path, "run-a", age_days=1)
    make_run(tmp_path, "run-b", age_days=0)
    done = _cli(tmp_path, "trace", "--siret", "732 829 320 00074")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    expected = tmp_path / "run-b" / SIRET / "attempt-1" / "trace.zip"
    assert lines[0] == str(expected)
    assert f"failure.png: {expected.parent / 'failure.png'}" in done.stdout
    assert lines[-1] == f"playwright show-trace {expected}"


def test_trace_command_without_a_trace_says_so(tmp_path):
    done = _cli(tmp_path, "trace", "--siret", SIRET)
    assert done.returncode == 1
    assert f"no trace kept for SIRET {SIRET}" in done.stderr
    assert done.stdout == ""


def test_scrub_zip_masks_text_members_and_drops_a_binary_one_holding_a_secret(tmp_path):
    secret = "Scrub-Me-9f3a/+&"
    registry.add(secret, "test")
    path = tmp_path / "trace.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("part-01.trace", json.dumps({"type": "before", "params": {"value": secret}}) + "\n")
        archive.writestr("part-01.network", json.dumps({"postData": f"password={quote_plus(secret)}"}) + "\n")
        archive.writestr("resources/page.html", f"<input value='{b64encode(secret.encode()).decode()}'>")
        archive.writestr("screencast/frame.jpeg", b"\xff\xd8\xff" + secret.encode())
        archive.writestr("screencast/clean.jpeg", b"\xff\xd8\xff" + b"\x00" * 32)
    assert scrub_zip(path) == ["screencast/frame.jpeg"]
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == [
            "part-01.network", "part-01.trace", "resources/page.html", "screencast/clean.jpeg"
        ]
        event = json.loads(archive.read("part-01.trace"))
        assert event["params"]["value"] == MASK
        assert json.loads(archive.read("part-01.network"))["postData"] == f"password={MASK}"
        assert archive.read("resources/page.html").decode() == f"<input value='{MASK}'>"


def test_scrub_html_drops_password_values_and_masks_secrets():
    registry.add("Echoed-answer-xyz", "test")
    page = (
        '<form><input type="password" name="pw" value="typed-by-someone">'
        "<input type=text name=answer value='Echoed-answer-xyz'></form>"
    )
    scrubbed = scrub_html(page)
    assert "typed-by-someone" not in scrubbed and "Echoed-answer-xyz" not in scrubbed
    assert '<input type="password" name="pw">' in scrubbed
    assert f"value='{MASK}'" in scrubbed
