"""The scheduling files of deploy/ are valid: systemd units, the timer, the cron line.

`systemd-analyze verify` is the real check where systemd is installed; the parse below
runs everywhere. Both command lines (service and cron) are parsed by the bot's own CLI,
so an option renamed in the code cannot silently break the nightly run.
"""
from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from bot.cli import app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICE, TIMER, CRONTAB = DEPLOY / "chorus-bot.service", DEPLOY / "chorus-bot.timer", DEPLOY / "crontab"
INSTALLED_BOT = "/opt/chorus-bot/.venv/bin/chorus-bot"


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def check_cli_args(argv: list[str]) -> None:
    """Parse ``chorus-bot ARGS`` with the real CLI (no run): unknown options raise UsageError."""
    group = typer.main.get_command(app)
    parent = group.make_context("chorus-bot", list(argv))
    command = group.get_command(parent, argv[0])
    assert command is not None, f"no command {argv[0]!r}"
    command.make_context(argv[0], list(argv[1:]), parent=parent)


def test_service_unit():
    service = unit(SERVICE)
    assert service["Unit"]["Description"]
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["User"] == "chorus-bot"
    assert service["Service"]["KillMode"] == "mixed"  # SIGTERM to the bot only: in-flight suppliers finish
    exec_start = shlex.split(service["Service"]["ExecStart"])
    assert exec_start[0] == INSTALLED_BOT
    assert exec_start[1] == "batch" and "--report" in exec_start
    assert "%" not in service["Service"]["ExecStart"]  # no accidental systemd specifier
    check_cli_args(exec_start[1:])
    # A changed portal stops the unit before the batch touches any supplier.
    pre = shlex.split(service["Service"]["ExecStartPre"])
    assert pre[:2] == [INSTALLED_BOT, "check-site"]
    check_cli_args(pre[1:])


def test_timer_unit():
    timer = unit(TIMER)["Timer"]
    assert timer["Persistent"] == "true"
    assert re.fullmatch(r"\d+(min|h|s)?", timer["RandomizedDelaySec"])
    assert timer["Unit"] == SERVICE.name
    assert unit(TIMER)["Install"]["WantedBy"] == "timers.target"
    if shutil.which("systemd-analyze"):
        calendar = subprocess.run(
            ["systemd-analyze", "calendar", timer["OnCalendar"]], capture_output=True, text=True
        )
        assert calendar.returncode == 0, calendar.stderr
        assert "Next elapse" in calendar.stdout


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_verify(tmp_path):
    # The installed path (/opt/...) does not exist here: point ExecStart at this venv's bot.
    bot = Path(sys.executable).with_name("chorus-bot")
    assert bot.exists()
    (tmp_path / SERVICE.name).write_text(SERVICE.read_text().replace(INSTALLED_BOT, str(bot)))
    (tmp_path / TIMER.name).write_text(TIMER.read_text())
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / TIMER.name), str(tmp_path / SERVICE.name)],
        capture_output=True,
        text=True,
    )
    ours = [line for line in (result.stdout + result.stderr).splitlines() if str(tmp_path) in line]
    assert result.returncode == 0 and ours == [], result.stdout + result.stderr


_CRON_FIELD = re.compile(r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def cron_jobs(text: str) -> tuple[dict[str, str], list[tuple[list[str], str]]]:
    env: dict[str, str] = {}
    jobs: list[tuple[list[str], str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            name, value = line.split("=", 1)
            env[name] = value
            continue
        parts = line.split(None, 5)
        assert len(parts) == 6, f"not 5 time fields and a command: {line}"
        jobs.append((parts[:5], parts[5]))
    return env, jobs


def test_cron_line():
    env, jobs = cron_jobs(CRONTAB.read_text())
    assert env["SHELL"] == "/bin/sh"
    assert "/opt/chorus-bot/.venv/bin" in env["PATH"].split(":")
    assert len(jobs) == 1
    fields, command = jobs[0]
    for field, (low, high) in zip(fields, _CRON_RANGES):
        assert _CRON_FIELD.fullmatch(field), field
        assert all(low <= int(n) <= high for n in re.findall(r"\d+", field.split("/")[0])), field
    assert "%" not in command  # cron turns % into newlines
    assert "flock" not in command  # the bot locks itself
    assert re.search(r">>\s*/var/log/chorus-bot/\S+\s+2>&1$", command), "logs to a file"
    steps = [shlex.split(step.split(">>")[0]) for step in command.split("&&")]
    assert steps[0][0] == "cd"
    # check-site first: a changed portal stops the night before the batch touches any supplier.
    assert [argv[:2] for argv in steps[1:]] == [["chorus-bot", "check-site"], ["chorus-bot", "batch"]]
    for argv in steps[1:]:
        check_cli_args(argv[1:])
    sh = subprocess.run(["sh", "-n", "-c", command], capture_output=True, text=True)
    assert sh.returncode == 0, sh.stderr


def test_the_checks_catch_bad_lines():
    with pytest.raises(AssertionError, match="5 time fields"):
        cron_jobs("30 2 * * chorus-bot\n")
    with pytest.raises(Exception, match="--no-such-option"):
        check_cli_args(["batch", "x.csv", "--no-such-option"])
