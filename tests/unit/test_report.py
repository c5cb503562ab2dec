"""The report a shared-service centre reads after a batch: JSON, CSV, summary; never a secret."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest
from rich.console import Console

from bot.models import InseeCheck, Mismatch, RegistrationResult, Status
from bot.report import summary_table, write_report
from bot.secrets import registry

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 11, 27, 1, 2, tzinfo=timezone.utc)


def results() -> list[RegistrationResult]:
    return [
        RegistrationResult(
            siret="44306184100039", email="ap+one@ssc.example", status=Status.activated,
            message="Your account has been activated", areas=["Sent requests", "Issued invoices"],
            attempts=1, started_at=T0, finished_at=T1,
            insee=InseeCheck(
                autofilled={"company_name": "ACME", "postal_code": "75011", "city": "PARIS"},
                mismatches=[Mismatch(field="city", master="Paris 11e", insee="PARIS")], action="warn",
            ),
        ),
        RegistrationResult(
            siret="73282932000074", email="ap+two@ssc.example", status=Status.failed,
            message="timeout on step 2", attempts=3, trace="artifacts/run/73282932000074/trace.zip",
            screen="Step 2 - structure", step="structure", artifacts=["artifacts/run/x/failure.png"],
        ),
        RegistrationResult(siret="55208131766522", email="ap+three@ssc.example", status=Status.exists,
                           message="This structure already exists in Chorus Pro", attempts=1),
    ]


def test_json_report_has_the_contract_fields(tmp_path):
    path = write_report(results(), tmp_path / "out" / "report.json")
    rows = json.loads(path.read_text())
    assert [r["status"] for r in rows] == ["activated", "failed", "exists"]
    for row in rows:
        assert {"siret", "email", "status", "message", "insee", "areas", "attempts", "started_at",
                "finished_at", "trace", "screen", "step", "artifacts"} <= set(row)
    assert rows[0]["insee"]["mismatches"] == [{"field": "city", "master": "Paris 11e", "insee": "PARIS"}]
    assert rows[0]["started_at"] == "2026-11-27T01:00:00Z"
    assert rows[1]["trace"].endswith("trace.zip") and rows[1]["step"] == "structure"
    assert rows[2]["insee"] is None and rows[2]["trace"] is None
    assert list(tmp_path.joinpath("out").iterdir()) == [path]  # no temporary file left behind


def test_csv_report_is_flat(tmp_path):
    path = write_report(results(), tmp_path / "report.CSV")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["siret"] for r in rows] == ["44306184100039", "73282932000074", "55208131766522"]
    assert rows[0]["areas"] == "Sent requests|Issued invoices"
    assert rows[0]["insee_city"] == "PARIS" and rows[0]["insee_action"] == "warn"
    assert rows[0]["insee_mismatches"] == "city: master 'Paris 11e' / INSEE 'PARIS'"
    assert rows[1]["attempts"] == "3" and rows[1]["artifacts"] == "artifacts/run/x/failure.png"
    assert rows[2]["insee_mismatches"] == "" and rows[2]["trace"] == ""


def test_report_masks_known_secrets(tmp_path):
    secret = "S3cret-Passw0rd!x"
    registry.add(secret, "test")  # stays registered: clearing would forget other tests' secrets
    leaky = RegistrationResult(
        siret="1", email="a@b.example", status=Status.failed,
        message=f"typing {secret} failed at http://portal/account/activate?token=abcdef123456",
    )
    for name in ("r.json", "r.csv"):
        text = write_report([leaky], tmp_path / name).read_text()
        assert secret not in text and "abcdef123456" not in text
        assert "********" in text


def test_unknown_extension_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.json or \.csv"):
        write_report(results(), tmp_path / "report.txt")
    assert list(tmp_path.iterdir()) == []


def test_summary_table_counts_per_status():
    console = Console(width=80, record=True)
    console.print(summary_table(results() + results()[:1]))
    text = console.export_text()
    lines = {line.split()[1]: line.split()[3] for line in text.splitlines() if line.startswith("│")}
    assert lines == {"activated": "2", "exists": "1", "failed": "1", "total": "4"}
