"""Benchmark: how fast, and how heavy, is a batch against the sandbox?

Speed and memory goals live here, not in timed tests. For each concurrency level it
registers N fresh suppliers end to end (step 1 to activation, mail read over IMAP) against
a local sandbox + Dovecot, then prints one line per level:

    concurrency  suppliers  wall_s  per_min  p50_s  p95_s  peak_pss_mb  statuses

``peak_pss_mb`` is the largest proportional set size (PSS: shared pages split between the
processes that share them, so Chromium's processes are not counted several times) seen for
this process plus every descendant (the Chromium server, its renderers), sampled every 200 ms. Usage:

    .venv/bin/python bench/run.py [--suppliers 12] [--concurrency 1,2,4] [--latency-ms 0]
                                  [--json bench/last.json]

Goals (2 cores, 24 GiB): at concurrency 4 on the default profile, at least 8 activated
suppliers a minute and under 2 GiB peak PSS; see README "Benchmarks" for the figures measured.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.models import Status, Supplier  # noqa: E402
from bot.settings import fields_from_env, load_settings  # noqa: E402
from fixtures.portal.server import Sandbox  # noqa: E402

INSEE_DIR = ROOT / "fixtures" / "insee"


def active_sirets() -> list[str]:
    """Active, diffusible SIRETs of the sandbox's INSEE data, less the seeded structures."""
    from fixtures.portal.state import DEFAULT_SEED

    seeded = {item["siret"] for item in DEFAULT_SEED}
    out = []
    for path in sorted(INSEE_DIR.glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        etab = body["etablissement"]
        period = etab["periodesEtablissement"][0]
        if (period["etatAdministratifEtablissement"] == "A" and etab.get("statutDiffusionEtablissement") == "O"
                and etab["siret"] not in seeded):
            out.append(etab["siret"])
    return out


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_pss_bytes(pid: int) -> int:
    """Proportional set size of ``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _pss_bytes(p)
        todo.extend(children.get(p, []))
    return total


class PeakSampler(threading.Thread):
    def __init__(self, period_s: float = 0.2):
        super().__init__(daemon=True)
        self.peak = 0
        self._stop_event = threading.Event()
        self._period = period_s

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, tree_pss_bytes(os.getpid()))
            self._stop_event.wait(self._period)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def one_level(sandbox: Sandbox, sirets: list[str], concurrency: int, latency_ms: int) -> dict:
    from bot.flows.batch import run_batch

    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    if latency_ms:
        httpx.post(f"{sandbox.url}/_sandbox/knobs", json={"latency_ms": latency_ms}).raise_for_status()
    tag = uuid.uuid4().hex[:6]
    suppliers = [
        (n + 2, Supplier(siret=s, email=f"ap+bench{tag}{n}@ssc.example", first_name="Bench", last_name=f"Run{n}",
                         phone="0102030405"))
        for n, s in enumerate(sirets)
    ]
    with tempfile.TemporaryDirectory(prefix="chorus-bench-") as tmp:
        overrides = fields_from_env(sandbox.env)
        overrides.update(state_db=Path(tmp) / "state.sqlite3", artifacts_dir=Path(tmp) / "artifacts",
                         trace="off", activation_timeout_s=120, log_level="WARNING")
        settings = load_settings(**overrides)
        sampler = PeakSampler()
        sampler.start()
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the batch's own progress lines
            run = run_batch(settings, suppliers, concurrency=concurrency, console=Console(quiet=True),
                            interactive=False)
        wall = time.perf_counter() - started
        peak = sampler.stop()
    durations = [(r.finished_at - r.started_at).total_seconds() for r in run.results
                 if r.started_at and r.finished_at]
    statuses: dict[str, int] = {}
    for r in run.results:
        statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
    activated = statuses.get(Status.activated.value, 0)
    return {
        "concurrency": concurrency,
        "suppliers": len(suppliers),
        "wall_s": round(wall, 1),
        "per_min": round(activated / wall * 60, 1),
        "p50_s": round(statistics.median(durations), 1) if durations else None,
        "p95_s": round(sorted(durations)[max(0, int(len(durations) * 0.95) - 1)], 1) if durations else None,
        "peak_pss_mb": round(peak / 2**20),
        "statuses": statuses,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suppliers", type=int, default=12)
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--latency-ms", type=int, default=0, help="portal latency knob per page")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    pool = active_sirets()
    if args.suppliers > len(pool):
        parser.error(f"--suppliers: the sandbox has {len(pool)} active diffusible SIRETs")
    levels = [int(x) for x in args.concurrency.split(",")]
    rows = []
    with Sandbox() as sandbox:
        print(f"{'concurrency':>11} {'suppliers':>9} {'wall_s':>7} {'per_min':>7} {'p50_s':>6} {'p95_s':>6} "
              f"{'peak_pss_mb':>11}  statuses", flush=True)
        for level in levels:
            row = one_level(sandbox, pool[: args.suppliers], level, args.latency_ms)
            rows.append(row)
            print(f"{row['concurrency']:>11} {row['suppliers']:>9} {row['wall_s']:>7} {row['per_min']:>7} "
                  f"{row['p50_s']!s:>6} {row['p95_s']!s:>6} {row['peak_pss_mb']:>11}  {row['statuses']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(r["statuses"].get("activated") == r["suppliers"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
