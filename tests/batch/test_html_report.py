"""The HTML report of a batch, as the accountant who gets it by mail opens it: from disk, offline.

One real batch (the CLI, Chromium, the sandbox, its Dovecot) ends with every kind of outcome:
activated (one of them with a company name INSEE spells otherwise), a business outcome (the
SIRET already registered, a bad row of the file) and a technical failure (the portal answers
HTTP 500 to both attempts of one supplier). Its report is then opened with Chromium from a
file:// address with the network cut, and checked as a person would read it.
"""
from __future__ import annotations

import json
import shutil
import stat
import sys
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from batchtools import ACTIVE, EXISTING, FRENCH_HEADER, supplier_rows, write_csv
from bot.credentials import CredentialStore

TRACE_HELPERS = str(Path(__file__).resolve().parents[1] / "trace")  # the trace tests' secret scanner
if TRACE_HELPERS not in sys.path:
    sys.path.insert(0, TRACE_HELPERS)
from secret_scan import activation_links, scan  # noqa: E402


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_html_report_opens_offline_and_tells_the_run(bot, portal, sandbox, browser, tmp_path):
    tag = f"html-{uuid.uuid4().hex[:6]}"
    failing, renamed, plain = supplier_rows(3, tag, start=4)
    renamed[8] = "Boulangerie Dupont"  # the master data disagrees with INSEE's name (policy: warn)
    existing = [EXISTING, f"ap+{tag}-existing@ssc.example", "Zoé", "Déjà", "04 72 00 00 09", "", "", "non", ""]
    bad = [ACTIVE[9][0], f"ap+{tag}-bad(at)ssc.example", "Inès", "Sans", "04 72 00 00 08", "", "", "non", ""]
    path = write_csv(tmp_path / "fournisseurs.csv", FRENCH_HEADER, [failing, renamed, plain, existing, bad],
                     encoding="utf-8-sig")
    failing_siret = failing[0].replace(" ", "")
    # One at a time, the failing supplier first: both of its step-1 "Validate" get HTTP 500.
    portal.knobs(fail_next={"/account/new": 2})
    bot.env.update(CHORUS_CONCURRENCY="1", CHORUS_MAX_ATTEMPTS="2", CHORUS_RETRY_BACKOFF_S="0", CHORUS_IMAP_POLL_S="1")
    done = bot.run("batch", str(path), "--report", str(tmp_path / "run.html"), timeout=240)
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]  # a technical failure remains

    journal = bot.journal()
    statuses = {e.siret: e.status for e in journal}
    assert statuses[failing_siret] == "failed", statuses
    (run_id,) = {e.run_id for e in journal}
    report = Path(bot.env["CHORUS_ARTIFACTS_DIR"]) / run_id / "report.html"
    assert f"HTML report: {report}" in " ".join(done.stdout.split())
    assert report.read_bytes() == (tmp_path / "run.html").read_bytes()
    assert stat.S_IMODE(report.stat().st_mode) == 0o600, "the report names people"

    # `chorus-bot report` rebuilds the same file from the journal and the artifacts.
    rebuilt = bot.run("report", "--run", run_id, "--format", "html", "--output", str(tmp_path / "again.html"))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (tmp_path / "again.html").read_bytes() == report.read_bytes()
    as_json = bot.run("report", "--format", "json", "--output", str(tmp_path / "again.json"))  # the latest run
    assert as_json.returncode == 0, as_json.stderr
    assert Counter(r["status"] for r in json.loads((tmp_path / "again.json").read_text())) == \
        Counter(statuses.values()) + Counter(invalid_input=1)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
    context.set_offline(True)
    page = context.new_page()
    page.goto(report.as_uri())
    expect(page.locator("#run-id")).to_have_text(run_id)

    # The counts at the top are the journal's, plus the bad row (never in the journal).
    expected = Counter(statuses.values()) + Counter(invalid_input=1)
    assert expected == Counter(activated=2, exists=1, failed=1, invalid_input=1)
    legend = page.locator("#counts li")
    shown = {legend.nth(i).get_attribute("data-status"): int(legend.nth(i).get_attribute("data-count"))
             for i in range(legend.count())}
    assert shown == dict(expected)
    expect(page.locator("#settings")).to_contain_text(sandbox.url)

    # Filtering by `failed` shows exactly the failed row; "all" shows every row again.
    rows = page.locator("#suppliers tbody tr")
    page.locator("#status-filter").select_option("failed")
    visible = page.locator("#suppliers tbody tr:visible")
    expect(visible).to_have_count(1)
    assert visible.first.get_attribute("data-siret") == failing_siret
    page.locator("#status-filter").select_option("")
    expect(rows.filter(visible=True)).to_have_count(5)

    # Sorting by attempts, then by SIRET, reorders the rows both ways.
    page.get_by_role("button", name="Attempts").click()
    attempts = [int(t) for t in page.locator("#suppliers tbody td:nth-child(5)").all_inner_texts()]
    assert attempts == sorted(attempts) and attempts[-1] == 2, attempts
    page.get_by_role("button", name="SIRET").click()
    page.get_by_role("button", name="SIRET").click()
    sirets = [s.strip() for s in page.locator("#suppliers tbody td:nth-child(1)").all_inner_texts()]
    assert sirets == sorted(sirets, reverse=True)

    # The INSEE difference is highlighted on the supplier whose name INSEE spells otherwise.
    renamed_row = rows.filter(has=page.locator(f"td:text-is('{renamed[0].replace(' ', '')}')"))
    expect(renamed_row.locator("mark")).to_contain_text("Boulangerie Dupont")

    # A failure opens onto its screen, step, screenshot (embedded, decodable) and the commands.
    failed_row = page.locator(f"#suppliers tbody tr[data-siret='{failing_siret}']")
    failed_row.get_by_text("where it stopped").click()
    shot = failed_row.locator("img.screenshot")
    expect(shot).to_be_visible()
    assert shot.get_attribute("src").startswith("data:image/png;base64,")
    assert shot.evaluate("img => img.complete && img.naturalWidth > 0 && img.naturalHeight > 0")
    expect(failed_row.locator("details")).to_contain_text(f"chorus-bot trace --siret {failing_siret}")
    show_trace = failed_row.locator("pre", has_text="playwright show-trace ").inner_text()
    assert Path(show_trace.removeprefix("playwright show-trace ").strip()).is_file(), show_trace

    # The timeline has one bar per supplier that ran (the bad row never did).
    bars = page.locator("svg.timeline rect.bar")
    assert sorted(bars.nth(i).get_attribute("data-siret") for i in range(bars.count())) == sorted(statuses)

    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    context.close()

    # No form of any secret of the run in the file.
    store = CredentialStore(bot.state_db, bot.env["CHORUS_SECRET_KEY"])
    stored = [c for c in (store.get(siret) for siret in statuses) if c is not None]
    assert stored, "the activated suppliers' credentials are stored"
    links = activation_links(sandbox, {e.email.lower() for e in journal})
    tokens = [parse_qs(urlsplit(link).query)["token"][0] for link in links]
    secrets = [s for c in stored for s in (c.password, c.answer)] + links + tokens
    secrets += [bot.env["CHORUS_SECRET_KEY"], bot.env["CHORUS_IMAP_PASSWORD"], sandbox.mail.password]
    alone = tmp_path / "scanned"
    alone.mkdir()
    shutil.copy(report, alone / "report.html")
    assert scan(alone, *secrets) == []
