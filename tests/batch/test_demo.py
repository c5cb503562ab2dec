"""`chorus-bot demo` (what `make demo` runs): the sandbox, fixtures/suppliers.csv, a report."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from batchtools import BOT
from bot.batchfile import read_batch

SUPPLIERS_CSV = Path(__file__).resolve().parents[2] / "fixtures" / "suppliers.csv"


def test_the_demo_file_is_a_french_excel_export_of_good_rows():
    data = SUPPLIERS_CSV.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data  # UTF-8 BOM, CRLF
    header = data[3:].split(b"\r\n", 1)[0].decode()
    assert header.startswith("SIRET;Adresse e-mail de connexion;Prénom;Nom;Téléphone")
    batch = read_batch(SUPPLIERS_CSV)
    assert batch.errors == [] and 6 <= len(batch.suppliers) <= 8
    suppliers = [s for _, s in batch.suppliers]
    assert all(re.fullmatch(r"ap\+[a-z0-9-]+@ssc\.example", s.email) for s in suppliers)
    assert sum(s.non_diffusible for s in suppliers) == 1
    assert any(s.areas == ["Work invoices", "Commitments"] for s in suppliers)
    assert sum(s.company_name is not None for s in suppliers) > len(suppliers) / 2


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_registers_the_example_suppliers_end_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_")}
    done = subprocess.run([BOT, "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=850)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Demo report" in done.stdout and "playwright show-trace" in done.stdout
    [report_path] = tmp_path.glob("artifacts/demo-*/report.json")
    report = json.loads(report_path.read_text())
    assert len(report) == len(read_batch(SUPPLIERS_CSV).suppliers)
    assert {r["status"] for r in report} == {"activated"}
    assert all(r["trace"] and (tmp_path / r["trace"]).is_file() for r in report)
