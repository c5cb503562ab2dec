"""The `chorus-bot` commands of this issue, run as a user runs them: real processes, `env=bot_env`."""
from __future__ import annotations

import os
from pathlib import Path

from register_support import CEA, account, chorus_bot, log_in


def test_cli_register_then_credentials_log_in(portal, bot_env, browser, mailbox_address):
    done = chorus_bot(
        bot_env, "register", "--siret", "807 439 872 00019", "--email", mailbox_address,
        "--first-name", "Claire", "--last-name", "Dupré", "--phone", "0472000000",
        "--areas", "Work invoices,Commitments",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("activated: 80743987200019 "), done.stdout
    acc = account(portal, mailbox_address)
    assert acc and acc["status"] == "active"

    shown = chorus_bot(bot_env, "credentials", "--siret", "80743987200019")
    assert shown.returncode == 0, shown.stderr
    fields = dict(line.split(": ", 1) for line in shown.stdout.splitlines())
    assert fields["login email"] == mailbox_address
    assert fields["secret question"] == acc["secret_question"]
    password = fields["password"]
    # A secret is shown only by `credentials`: never by `register`, never in the log file.
    assert password not in done.stdout + done.stderr
    assert fields["answer"] not in done.stdout + done.stderr
    logs = "".join(p.read_text() for p in Path(bot_env["CHORUS_ARTIFACTS_DIR"]).rglob("*.log"))
    assert logs and password not in logs and fields["answer"] not in logs
    flow_lines = [line for line in logs.splitlines() if "bot.flows.registration" in line]
    assert flow_lines and all("80743987200019" in line for line in flow_lines)  # the SIRET on every line
    workspace = log_in(browser, bot_env["CHORUS_PORTAL_URL"], mailbox_address, password)
    assert {"Work invoices", "Commitments"} <= set(workspace.open_areas())




def test_cli_exit_codes(portal, bot_env, mailbox_address):
    who = ["--email", mailbox_address, "--first-name", "A", "--last-name", "B", "--phone", "0102030405"]
    malformed = chorus_bot(bot_env, "register", "--siret", "123", *who)
    assert malformed.returncode == 1, malformed.stderr
    assert malformed.stdout.startswith("invalid_input: 123 ")
    blocked = chorus_bot(bot_env, "register", "--siret", CEA, *who)
    assert blocked.returncode == 1 and blocked.stdout.startswith("blocked: ")
    dry = chorus_bot(bot_env, "--dry-run", "--slow-mo", "5", "register", "--siret", "80743987200019", *who)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "nothing was created" in dry.stdout
    assert account(portal, mailbox_address) is None
    no_portal = {**bot_env, "CHORUS_PORTAL_URL": ""}
    config = chorus_bot(no_portal, "register", "--siret", "80743987200019", *who)
    assert config.returncode == 2 and "CHORUS_PORTAL_URL" in config.stderr
    assert len(config.stderr.strip().splitlines()) == 1


def test_doctor(portal, bot_env):
    ok = chorus_bot(bot_env, "doctor", timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines() == ["settings: ok", "browser: ok", "portal: ok", "imap: ok"]

    bad = chorus_bot({**bot_env, "CHORUS_IMAP_PASSWORD": "wrong-password-123"}, "doctor", timeout=120)
    assert bad.returncode == 2
    lines = dict(line.split(": ", 1) for line in bad.stdout.splitlines())
    assert lines["imap"].startswith("FAIL: ") and "CHORUS_IMAP_PASSWORD" in lines["imap"]
    assert lines["portal"] == "ok"
    assert "wrong-password-123" not in bad.stdout + bad.stderr


def test_credentials_of_an_unknown_siret(bot_env):
    shown = chorus_bot(bot_env, "credentials", "--siret", "80743987200019", timeout=60)
    assert shown.returncode == 1
    assert "no stored credentials" in shown.stderr and shown.stdout == ""


def test_register_prunes_old_runs_like_a_batch(bot_env, mailbox_address):
    """ARTIFACTS_KEEP_DAYS applies to single registrations too: an old run folder goes."""
    import time

    from bot.tracing import RUN_MARKER

    artifacts = Path(bot_env["CHORUS_ARTIFACTS_DIR"])
    old = artifacts / "20200101-000000-aaaaaa"
    (old / "80743987200019" / "attempt-1").mkdir(parents=True)
    (old / RUN_MARKER).touch()
    stamp = time.time() - 40 * 86400
    os.utime(old / RUN_MARKER, (stamp, stamp))
    foreign = artifacts / "notes"  # not a run folder: never touched
    foreign.mkdir()
    who = ["--email", mailbox_address, "--first-name", "A", "--last-name", "B", "--phone", "0102030405"]
    result = chorus_bot({**bot_env, "CHORUS_ARTIFACTS_KEEP_DAYS": "30"}, "register", "--siret", "123", *who)
    assert result.returncode == 1, result.stderr
    assert not old.exists()
    assert foreign.is_dir()
