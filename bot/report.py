"""The batch report (JSON or CSV, chosen by the file's extension) and the summary table.

Why it masks what holds no secret: the models never carry a password, an answer, a token
or a link, but a message may quote a page or an exception; every string goes through
``bot.secrets.registry.mask`` on its way out, so a secret can only leak by being unknown.
The file is written to a temporary name and renamed, so a run killed while writing never
leaves half a report behind.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.table import Table

from bot.models import RegistrationResult, Status
from bot.private import private_dir
from bot.secrets import registry

CSV_COLUMNS = (
    "siret", "email", "status", "message", "areas", "attempts", "started_at", "finished_at",
    "trace", "screen", "step", "artifacts",
    "insee_company_name", "insee_address", "insee_postal_code", "insee_city",
    "insee_mismatches", "insee_action",
)

STATUS_STYLE = {
    Status.activated: "green",
    Status.pending_activation: "yellow",
    Status.failed: "red",
}


def report_rows(results: Iterable[RegistrationResult]) -> list[dict[str, Any]]:
    """The report's objects: the contract's fields + screen, step, artifacts; every string masked."""
    return [_masked(result.model_dump(mode="json")) for result in results]


def write_report(results: Iterable[RegistrationResult], path: Path | str) -> Path:
    """Write ``.json`` (a list of objects) or ``.csv`` (one flat row each); returns the path."""
    path = Path(path)
    rows = report_rows(results)
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    elif suffix == ".csv":
        text = _csv_text(rows)
    else:
        raise ValueError(f"report {path}: the name must end in .json or .csv (HTML: bot.report_html)")
    return write_text_atomically(path, text)


def write_text_atomically(path: Path, text: str) -> Path:
    """Write a report file: 0600 in a 0700 folder if new, whole or not at all; returns the path."""
    private_dir(path.parent)
    # mkstemp makes the file 0600, and the rename keeps it: the report names people.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return registry.mask(value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    return value


def _csv_text(rows: list[dict[str, Any]]) -> str:
    """Comma-separated UTF-8 (what scripts expect); lists joined by '|'; INSEE flattened."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        insee = row.get("insee") or {}
        autofilled = insee.get("autofilled") or {}
        mismatches = insee.get("mismatches") or []
        writer.writerow(
            {
                **{k: row.get(k) for k in CSV_COLUMNS if k in row and k not in ("areas", "artifacts")},
                "areas": "|".join(row.get("areas") or []),
                "artifacts": "|".join(row.get("artifacts") or []),
                "insee_company_name": autofilled.get("company_name", ""),
                "insee_address": autofilled.get("address", ""),
                "insee_postal_code": autofilled.get("postal_code", ""),
                "insee_city": autofilled.get("city", ""),
                "insee_mismatches": "; ".join(
                    f"{m['field']}: master '{m['master']}' / INSEE '{m['insee']}'" for m in mismatches
                ),
                "insee_action": insee.get("action") or "",
            }
        )
    return buffer.getvalue()


def status_counts(results: Iterable[RegistrationResult]) -> Counter[Status]:
    return Counter(result.status for result in results)


def summary_table(results: Iterable[RegistrationResult], title: str = "Batch summary") -> Table:
    """Counts per status, in the order of ``Status``, with a total row."""
    counts = status_counts(results)
    table = Table(title=title)
    table.add_column("Status")
    table.add_column("Suppliers", justify="right")
    for status in Status:
        if counts[status]:
            table.add_row(status.value, str(counts[status]), style=STATUS_STYLE.get(status))
    table.add_section()
    table.add_row("total", str(sum(counts.values())))
    return table


def results_table(results: Iterable[RegistrationResult], title: str = "Suppliers") -> Table:
    """One row per supplier: what a person reads first (status and why; traces are in the report)."""
    table = Table(title=title)
    for column in ("SIRET", "Login email", "Status", "Attempts", "Message", "INSEE vs master data"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(
            result.siret, result.email, result.status.value, str(result.attempts),
            registry.mask(result.message), _insee_note(result), style=STATUS_STYLE.get(result.status),
        )
    return table


def _insee_note(result: RegistrationResult) -> str:
    """Each field where INSEE's autofill differed from the master data, and what was done."""
    if result.insee is None or not result.insee.mismatches:
        return ""
    fields = ", ".join(f"{m.field} {m.master!r} vs {m.insee!r}" for m in result.insee.mismatches)
    return f"{fields} ({result.insee.action})" if result.insee.action else fields
