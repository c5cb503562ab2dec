"""End to end: a traced DEBUG batch against the sandbox leaves no secret anywhere.

`chorus-bot batch` registers two suppliers with TRACE=on, LOG_LEVEL=DEBUG and JSON logs;
the portal fails the first activation POST (HTTP 500, while the secrets are on the page),
so one supplier also leaves failure artifacts before its retry succeeds. Then every file of
the run (artifacts, traces and each of their members, logs, the report, the state database,
the command's own output) is searched for each secret of the run — the chosen passwords and
answers, the activation links and their tokens, the IMAP password and SECRET_KEY — raw,
URL-encoded, base64, quoted-printable, HTML- and JSON-escaped.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from secret_scan import activation_links, scan
from trace_viewer import snapshot_after, trace_viewer

from bot import labels as L
from bot.credentials import CredentialStore

CHORUS_BOT = str(Path(sys.executable).with_name("chorus-bot"))
SUPPLIERS = [  # active, diffusible SIRETs of fixtures/insee (the sandbox is reset before the test)
    ("80743987200019", "Claire", "Dupré", "Boulangerie Dupré SARL", "69003", "Lyon"),
    ("75498885500013", "Julien", "Roux", "Atelier Lumière SAS", "13001", "Marseille"),
]


def test_a_traced_debug_batch_leaves_no_secret_anywhere(portal, sandbox, bot_env, browser, tmp_path):
    tag = uuid.uuid4().hex[:8]
    emails = {siret: f"ap+e2e-{tag}-{n}@ssc.example" for n, (siret, *_rest) in enumerate(SUPPLIERS)}
    batch = tmp_path / "suppliers.csv"
    batch.write_text(
        "siret;email;first_name;last_name;phone;company_name;postal_code;city\n"
        + "".join(
            f"{siret};{emails[siret]};{first};{last};04 72 00 00 0{n};{company};{postal};{city}\n"
            for n, (siret, first, last, company, postal, city) in enumerate(SUPPLIERS)
        ),
        encoding="utf-8",
    )
    report = tmp_path / "report.json"
    portal.knobs(fail_next={"/account/activate": 1})  # the first activation Validate answers 500
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_")}
    env.update(bot_env, CHORUS_TRACE="on", CHORUS_LOG_LEVEL="DEBUG", CHORUS_LOG_FORMAT="json",
               CHORUS_CONCURRENCY="1", CHORUS_RETRY_BACKOFF_S="0")
    done = subprocess.run(
        [CHORUS_BOT, "batch", str(batch), "--report", str(report)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    (tmp_path / "stdout.txt").write_text(done.stdout)
    (tmp_path / "stderr.txt").write_text(done.stderr)

    # The run's secrets, gathered the way an auditor would (whatever the run's outcome).
    store = CredentialStore(Path(bot_env["CHORUS_STATE_DB"]), bot_env["CHORUS_SECRET_KEY"])
    stored = [c for c in (store.get(siret) for siret, *_ in SUPPLIERS) if c is not None]
    links = activation_links(sandbox, set(emails.values()))
    tokens = [parse_qs(urlsplit(link).query)["token"][0] for link in links]
    the_secrets = [s for c in stored for s in (c.password, c.answer)] + links + tokens
    the_secrets += [bot_env["CHORUS_SECRET_KEY"], sandbox.env["CHORUS_IMAP_PASSWORD"]]

    # No form of any secret in any file, zip member, or file name; the state DB included.
    assert scan(tmp_path, *the_secrets) == []

    # Both accounts got their secrets (the retry of the first one is the flow tests' business).
    assert len(stored) == len(SUPPLIERS) and len(links) >= len(SUPPLIERS), done.stdout[-3000:]

    # What the run wrote is what a person on duty would open.
    artifacts = Path(bot_env["CHORUS_ARTIFACTS_DIR"])
    traces = sorted(artifacts.rglob("trace.zip"))
    assert len(traces) >= len(SUPPLIERS) + 1, "TRACE=on keeps every attempt, the failed one included"
    failures = sorted(artifacts.rglob("failure.json"))
    assert failures, "the attempt that met the HTTP 500 left failure artifacts"
    failure = json.loads(failures[0].read_text())
    assert failure["screen"] == "activation" and "An unexpected error occurred." in failure["message"]
    assert failure["url"].endswith("/account/activate?token=********")
    for name in ("failure.png", "failure.html", "log-tail.txt"):
        assert (failures[0].parent / name).is_file()
    assert list(artifacts.rglob("*.log")), "the rotating log file is under ARTIFACTS_DIR/logs"
    rows = {r["siret"]: r for r in json.loads(report.read_text())}
    assert rows[SUPPLIERS[1][0]]["status"] == "activated", done.stdout[-3000:]
    assert all(r["trace"] for r in rows.values())

    # The traces still tell the story: the activation page (token masked) and the page after.
    for trace in traces:
        with zipfile.ZipFile(trace) as archive:
            for name in archive.namelist():
                if name.endswith((".trace", ".network")):
                    for line in archive.read(name).splitlines():
                        json.loads(line)
    final = {Path(rows[SUPPLIERS[1][0]]["trace"])}
    urls = set()
    for trace in final:
        with zipfile.ZipFile(trace) as archive:
            for name in archive.namelist():
                if name.endswith(".trace"):
                    for line in archive.read(name).splitlines():
                        event = json.loads(line)
                        if event["type"] == "frame-snapshot":
                            url = urlsplit(event["snapshot"]["frameUrl"])
                            urls.add(f"{url.path}?{url.query}")
    assert "/account/activate?token=********" in urls  # the activation page, token masked
    assert "/account/activated?" in urls  # and the page after the secret section

    # And it opens in Playwright's trace viewer: the activation page (token masked, fields
    # empty), then the activated page as recording resumes.
    with trace_viewer(browser, final.pop()) as viewer:
        listed = viewer.locator("body").inner_text()
        assert "/account/activate?token=********" in listed
        snapshot_after(viewer, "Recording resumed", L.ACTIVATED.name)  # fails unless it shows
