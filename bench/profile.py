"""Profile: where a batch's CPU time and memory go, per kind of process.

``bench/run.py`` says how fast and how heavy a batch is; this script says *why*. It starts
the sandbox in a child process (``fixtures.portal.server.Sandbox``), runs the real
``chorus-bot batch FILE --concurrency C`` in a subprocess for each scenario (sandbox
latency x trace setting x concurrency), and samples ``/proc`` meanwhile:

- CPU: ``utime + stime`` of every process of the bot's tree, sampled every 50 ms and kept
  per pid (last value seen), so processes that end during the run still count (less their
  last 50 ms). ``wait4`` on the bot is printed beside it as a cross-check: it only counts
  the descendants reaped before the bot ended, which Chromium's processes are not.
  The sandbox (portal + Dovecot) is measured the same way, separately.
- Memory: PSS (``/proc/PID/smaps_rollup``) per process kind every 400 ms; the peak of each
  kind and the peak of the whole tree (one sample's sum).

Kinds: the bot's Python, the Playwright driver (``node ... run-driver``: one per batch, or
per worker thread for a bot whose threads each start Playwright), a ``launchServer`` node (a
bot that serves its browser to such threads), the Chromium browser process, renderers, and
Chromium's gpu / utility / zygote processes. Usage:

    .venv/bin/python bench/profile.py [--suppliers 6] [--concurrency 1,3] [--latency none,slow]
                                      [--trace retain-on-failure,off] [--json out.json]
                                      [--py-spy DIR] [--chromium-trace DIR]

``--latency slow`` is latency_ms=250, autofill_delay_ms=1500, mail_delay_ms=1000 (the
figures of the speed issue); ``none`` is the sandbox's defaults. ``--py-spy`` also samples
the bot's Python with py-spy (``pip install py-spy``; not a project dependency) in every
scenario and prints where its CPU goes; py-spy's own CPU is outside the bot's tree.
``--chromium-trace`` records a Chromium trace of every scenario and prints where the
renderers' main threads spend their time (``bench/renderer.py``).
The machine may be shared: wall times then vary with the load, CPU seconds much less.
"""
from __future__ import annotations

import argparse
import collections
import csv
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
# Run as a script, this folder comes first on sys.path, and this file would shadow the
# standard library's `profile` module (cProfile imports it) in this process and its child.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.renderer import summarise as summarise_renderer  # noqa: E402
from bench.renderer import switches as chromium_trace_switches  # noqa: E402
from bench.run import _pss_bytes, active_sirets  # noqa: E402

PY_SPY = Path(sys.executable).with_name("py-spy")
CPU_PERIOD_S = 0.05
PSS_PERIOD_S = 0.4
TICK = os.sysconf("SC_CLK_TCK")
LATENCY = {
    "none": {},
    "slow": {"latency_ms": 250, "autofill_delay_ms": 1500, "mail_delay_ms": 1000},
}
KINDS = ("bot python", "driver node", "launchServer node", "chromium browser", "renderer", "gpu",
         "utility", "zygote", "other")


# ---- processes -------------------------------------------------------------------------------


def kind_of(pid: int, root: int, tree: str = "bot") -> str:
    """The kind of a process of the bot's or the sandbox's tree, from its command line."""
    if pid == root:
        return "bot python" if tree == "bot" else "portal python"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return "other"
    # Chromium rewrites its children's command line as one space-separated string.
    exe = os.path.basename(raw.replace(b"\0", b" ").split(b" ", 1)[0].decode(errors="replace"))
    if exe == "node":
        if b"run-driver" in raw:
            return "driver node"
        if b"launchServer" in raw:
            return "launchServer node"
        return "other"
    if "chrom" in exe or "headless_shell" in exe:
        match = re.search(rb"--type=([\w-]+)", raw)
        kind = match.group(1).decode() if match else "browser"
        return {"browser": "chromium browser", "renderer": "renderer", "gpu-process": "gpu",
                "utility": "utility", "zygote": "zygote"}.get(kind, "other")
    if tree == "sandbox" and b"dovecot" in raw:
        return "dovecot"
    return "other"


def _cmdline_head(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read(120).replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "(gone)"


def children_map() -> dict[int, list[int]]:
    """ppid -> pids of every process on the machine."""
    out: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            out[ppid].append(int(entry.name))
    return out


def descendants(root: int, children: dict[int, list[int]]) -> list[int]:
    todo, out = [root], []
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of one process (its own threads, not its reaped children)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class TreeSampler:
    """Per-pid CPU (last value seen) and per-kind PSS peaks of the trees under ``roots``."""

    roots: dict[str, int]  # label -> root pid ("bot", "sandbox")
    cpu: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # pid -> (label, kind, ticks)
    baseline: dict[int, int] = field(default_factory=dict)  # ticks at start, for long-lived trees
    pss_peak: dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))
    pss_count: dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))
    pss_total_peak: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="profile-sampler")
        self._kinds: dict[int, str] = {}
        self.others: dict[int, str] = {}  # pid -> command line, of the processes of no known kind

    def start(self) -> "TreeSampler":
        self._sample(pss=False, baseline=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def add_root(self, label: str, pid: int) -> None:
        self.roots[label] = pid

    def _run(self) -> None:
        next_pss = 0.0
        while not self._stop.wait(CPU_PERIOD_S):
            now = time.monotonic()
            self._sample(pss=now >= next_pss)
            if now >= next_pss:
                next_pss = now + PSS_PERIOD_S

    def _sample(self, pss: bool, baseline: bool = False) -> None:
        children = children_map()
        pss_now: dict[str, int] = collections.defaultdict(int)
        count_now: dict[str, int] = collections.defaultdict(int)
        for label, root in list(self.roots.items()):
            for pid in descendants(root, children):
                ticks = cpu_ticks(pid)
                if ticks is None:
                    continue
                # Re-read while young: a zygote's fork carries the zygote's name until it execs.
                kind = self._kinds.get(pid)
                if kind is None or kind in ("zygote", "other"):
                    kind = self._kinds[pid] = kind_of(pid, root, label)
                    if kind == "other":
                        self.others[pid] = _cmdline_head(pid)
                if baseline:
                    self.baseline[pid] = ticks
                self.cpu[pid] = (label, kind, ticks)
                if pss and label == "bot":
                    pss_now[kind] += _pss_bytes(pid)
                    count_now[kind] += 1
        if pss:
            for kind, value in pss_now.items():
                if value > self.pss_peak[kind]:
                    self.pss_peak[kind], self.pss_count[kind] = value, count_now[kind]
            self.pss_total_peak = max(self.pss_total_peak, sum(pss_now.values()))

    def cpu_by_kind(self, label: str) -> dict[str, float]:
        out: dict[str, float] = collections.defaultdict(float)
        for pid, (lab, kind, ticks) in self.cpu.items():
            if lab == label:
                out[kind] += (ticks - self.baseline.get(pid, 0)) / TICK
        return dict(out)

    def pids_by_kind(self, label: str) -> dict[str, int]:
        return dict(collections.Counter(kind for lab, kind, _ in self.cpu.values() if lab == label))


# ---- the sandbox, in its own process so that its CPU is its own -------------------------------


def _serve_sandbox(conn, profile: str = "default") -> None:
    from fixtures.portal.server import Sandbox

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so that `with` stops Dovecot too
    with Sandbox(profile=profile) as sandbox:
        conn.send({"url": sandbox.url, "env": sandbox.env})
        conn.recv()  # any message (or the parent's end) stops it


class SandboxProcess:
    def __init__(self, profile: str = "default") -> None:
        self.profile = profile

    def __enter__(self) -> "SandboxProcess":
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve_sandbox, args=(child, self.profile), name="sandbox", daemon=True)
        self.proc.start()
        if not self._conn.poll(60):
            raise SystemExit("the sandbox did not start within 60 s")
        info = self._conn.recv()
        self.url, self.env, self.pid = info["url"], info["env"], self.proc.pid
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._conn.send("stop")
        except OSError:
            pass
        self.proc.join(30)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join()


# ---- one scenario -----------------------------------------------------------------------------


def write_batch(path: Path, sirets: list[str]) -> None:
    tag = uuid.uuid4().hex[:6]
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, delimiter=";")
        out.writerow(["siret", "email", "first_name", "last_name", "phone"])
        for n, siret in enumerate(sirets):
            out.writerow([siret, f"ap+prof{tag}{n}@ssc.example", "Bench", f"Run{n}", "0102030405"])


def run_scenario(sandbox: SandboxProcess, sirets: list[str], concurrency: int, latency: str, trace: str,
                 py_spy: Path | None, extra_env: dict[str, str] | None = None,
                 inspect: Callable[[Path], dict] | None = None, knobs: dict | None = None) -> dict:
    """One `chorus-bot batch` run, measured. `knobs` are set after the reset and the latency's;
    `inspect(folder)` may read the run's folder (its logs under artifacts/) before it is
    removed; what it returns joins the figures."""
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    if LATENCY[latency] or knobs:
        httpx.post(f"{sandbox.url}/_sandbox/knobs", json={**LATENCY[latency], **(knobs or {})}).raise_for_status()
    with tempfile.TemporaryDirectory(prefix="chorus-profile-") as tmp_name:
        tmp = Path(tmp_name)
        write_batch(tmp / "batch.csv", sirets)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_")}
        env.update(sandbox.env)
        (tmp / "tmp").mkdir()  # Playwright's and Chromium's temporary files, out of the shared /tmp
        env["TMPDIR"] = str(tmp / "tmp")
        # CHORUS_SECRET_KEY is left unset, as by default: the bot makes a key file beside the state
        # DB. A passphrase would add its scrypt stretching (about 0.5 s of CPU and 128 MiB, once
        # per batch) to every figure.
        env.update(CHORUS_STATE_DB=str(tmp / "state.sqlite3"), CHORUS_ARTIFACTS_DIR=str(tmp / "artifacts"),
                   CHORUS_TRACE=trace, CHORUS_ACTIVATION_TIMEOUT_S="120")
        env.update(extra_env or {})
        cmd = [sys.executable, "-m", "bot", "batch", str(tmp / "batch.csv"), "--concurrency", str(concurrency),
               "--report", str(tmp / "report.json")]
        sampler = TreeSampler(roots={"sandbox": sandbox.pid}).start()
        started = time.perf_counter()
        with open(tmp / "out.txt", "w") as out:
            proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
            sampler.add_root("bot", proc.pid)
            spy = _start_py_spy(proc.pid, py_spy, f"{latency}-{trace}-c{concurrency}") if py_spy else None
            try:
                _, status, rusage = os.wait4(proc.pid, 0)
            except BaseException:  # Ctrl-C: the bot must not outlive this script
                proc.kill()
                proc.wait()
                raise
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        sampler.stop()
        if spy is not None:
            spy.wait(60)
        report = json.loads((tmp / "report.json").read_text()) if (tmp / "report.json").exists() else []
        if not report:
            sys.stderr.write((tmp / "out.txt").read_text()[-3000:])
        kept_traces = len(list((tmp / "artifacts").glob("*/*/attempt-*/trace.zip")))
        inspected = inspect(tmp) if inspect else {}
    n = len(sirets)
    bot_cpu = sampler.cpu_by_kind("bot")
    # wait4 counts only the descendants reaped before the bot ended (Chromium's processes
    # may outlive their driver parent and be reaped by init), so the per-pid samples are
    # the total; wait4's figure is printed as a cross-check.
    waited = rusage.ru_utime + rusage.ru_stime
    exact = sum(bot_cpu.values())
    durations = [
        (datetime.fromisoformat(r["finished_at"]) - datetime.fromisoformat(r["started_at"])).total_seconds()
        for r in report if r.get("started_at") and r.get("finished_at")
    ]
    statuses = dict(collections.Counter(r["status"] for r in report))
    return {
        "latency": latency, "trace": trace, "concurrency": concurrency, "suppliers": n,
        "exit_code": proc.returncode, "statuses": statuses, "kept_traces": kept_traces,
        "wall_s": round(wall, 2), "wall_per_supplier_s": round(wall / n, 2),
        "mean_supplier_s": round(sum(durations) / len(durations), 2) if durations else None,
        "bot_cpu_s": round(exact, 2), "bot_cpu_wait4_s": round(waited, 2), "bot_cpu_per_reg_s": round(exact / n, 3),
        "bot_cpu_per_reg_by_kind_s": {k: round(v / n, 3) for k, v in sorted(bot_cpu.items(), key=lambda kv: -kv[1])},
        "bot_processes_by_kind": sampler.pids_by_kind("bot"),
        "sandbox_cpu_per_reg_by_kind_s": {k: round(v / n, 3) for k, v in sampler.cpu_by_kind("sandbox").items()},
        "sandbox_cpu_per_reg_s": round(sum(sampler.cpu_by_kind("sandbox").values()) / n, 3),
        "other_processes": sorted(set(sampler.others.values())),
        "peak_pss_mb": round(sampler.pss_total_peak / 2**20),
        "peak_pss_by_kind_mb": {k: round(v / 2**20) for k, v in sorted(sampler.pss_peak.items(), key=lambda kv: -kv[1])},
        "processes_at_pss_peak_by_kind": dict(sampler.pss_count),
        **inspected,
    }


# ---- py-spy: where the bot's Python spends its CPU ---------------------------------------------


def _start_py_spy(pid: int, out_dir: Path, name: str) -> subprocess.Popen | None:
    """py-spy on the bot's Python once its interpreter is up (raw folded stacks, non-blocking)."""
    if not PY_SPY.exists():
        sys.exit(f"--py-spy: {PY_SPY} not found (.venv/bin/pip install py-spy)")
    out_dir.mkdir(parents=True, exist_ok=True)
    time.sleep(0.3)
    return subprocess.Popen(
        [str(PY_SPY), "record", "--pid", str(pid), "--rate", "200", "--nonblocking", "--format", "raw",
         "--output", str(out_dir / f"{name}.folded")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


# Buckets of the bot's Python CPU, by the innermost frame that matches (first rule wins).
BUCKETS = (
    ("trace zip scrub/merge (bot/tracing.py)", ("scrub_zip", "merge_segments", "_scrub_ndjson", "mask_bytes")),
    ("trace start/stop calls (bot/tracing.py)", ("_start_segment", "_stop_segment", "_snapshot_pages",
                                                 "_pages_hold_secrets")),
    ("journal (sqlite)", ("journal.py",)),
    ("credentials (encryption)", ("credentials.py",)),
    ("logging (loguru)", ("loguru", "logs.py")),
    ("IMAP watcher (bot/mail.py)", ("mail.py", "imap_tools", "imaplib")),
    ("progress/console (rich)", ("rich/", "progress.py")),
    ("start-up imports", ("<module>", "_find_and_load")),
    ("Playwright dispatch (connection, greenlets, pipe json)", ("playwright/_impl",)),
)


# Innermost frames of a thread that waits: py-spy --nonblocking cannot always tell them idle.
IDLE_FRAMES = ("select (selectors.py", "Condition.wait", "Event.wait", "Popen._wait", "_worker (concurrent",
               "Thread.join", "StreamReader._wait_for_data", "_wait_for_tstate_lock")


def py_spy_summary(folded: list[Path]) -> dict:
    """Share of the bot's busy Python samples per bucket, and the top self (innermost) functions.

    Empty stacks and threads parked in a wait are left out; under CPU contention a runnable
    thread still counts, so read the shares, and take the seconds from the /proc figures."""
    buckets: collections.Counter[str] = collections.Counter()
    selfs: collections.Counter[str] = collections.Counter()
    total = 0
    for path in folded:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            frames = stack.split(";")
            if not stack.strip() or any(idle in frames[-1] for idle in IDLE_FRAMES):
                continue
            total += count
            selfs[frames[-1]] += count
            for name, needles in BUCKETS:
                if any(needle in frame for frame in frames for needle in needles):
                    buckets[name] += count
                    break
            else:
                buckets["other"] += count
    return {
        "busy_samples": total,
        "buckets_pct": {k: round(100 * v / total, 1) for k, v in buckets.most_common()} if total else {},
        "top_self_pct": {k: round(100 * v / total, 1) for k, v in selfs.most_common(15)} if total else {},
    }


# ---- output ---------------------------------------------------------------------------------------


def print_row(row: dict) -> None:
    kinds = row["bot_cpu_per_reg_by_kind_s"]
    print(f"\n== latency={row['latency']} trace={row['trace']} concurrency={row['concurrency']} "
          f"suppliers={row['suppliers']} statuses={row['statuses']} kept_traces={row['kept_traces']}")
    print(f"   wall {row['wall_s']} s = {row['wall_per_supplier_s']} s/supplier (mean supplier "
          f"{row['mean_supplier_s']} s); bot CPU {row['bot_cpu_per_reg_s']} s/registration; "
          f"(wait4 {row['bot_cpu_wait4_s']} s in all); sandbox CPU {row['sandbox_cpu_per_reg_s']} s/registration; "
          f"peak PSS {row['peak_pss_mb']} MB")
    print("   CPU s/registration by kind: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    print("   peak PSS MB by kind:        " + ", ".join(f"{k} {v} (x{row['processes_at_pss_peak_by_kind'].get(k, 0)})"
                                                  for k, v in row["peak_pss_by_kind_mb"].items()))
    print("   sandbox CPU s/registration: " + ", ".join(f"{k} {v}" for k, v in row["sandbox_cpu_per_reg_by_kind_s"].items()))
    if "py_spy" in row:
        print("   bot python (py-spy) %:      " + ", ".join(f"{k} {v}" for k, v in row["py_spy"]["buckets_pct"].items()))
    if "renderer" in row:
        shares = ", ".join(f"{k} {v:g}" for k, v in row["renderer"]["share_pct"].items())
        sent = row["renderer"]["injected_script_sent"] / row["suppliers"]
        print(f"   renderer main thread %:     {shares} (traced; injected script sent {sent:g} times a registration)")
    sys.stdout.flush()


# ---- a Chromium trace of each scenario (bench/renderer.py) ---------------------------------------


def chromium_tracer(folder: Path, browser_path: str | None, sandbox_env: dict[str, str]) -> Path:
    """A script that runs the bot's Chromium with its start-up tracing on, into the file named by
    BENCH_CHROMIUM_TRACE (the driver hands its environment down to Chromium)."""
    from bot.browser import find_chromium
    from bot.settings import Settings, fields_from_env

    if browser_path is None:
        settings = Settings(_env_file=None, **fields_from_env(sandbox_env))
        browser_path = find_chromium(settings, headless=True) or "chromium"
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "chromium-traced.sh"
    flags = " ".join(f'"{flag}"' for flag in chromium_trace_switches(Path("$BENCH_CHROMIUM_TRACE")))
    script.write_text(f'#!/bin/sh\nexec \'{browser_path}\' {flags} "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suppliers", type=int, default=6)
    parser.add_argument("--concurrency", default="1,3")
    parser.add_argument("--latency", default="slow,none", help="comma list of: " + ", ".join(LATENCY))
    parser.add_argument("--trace", default="retain-on-failure,off", help="comma list of CHORUS_TRACE values")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--py-spy", type=Path, metavar="DIR", help="sample the bot's Python with py-spy into DIR")
    parser.add_argument("--browser-path", help="CHORUS_BROWSER_PATH for the bot (default: the bot's own choice)")
    parser.add_argument("--chromium-trace", type=Path, metavar="DIR",
                        help="record a Chromium trace of each scenario into DIR and summarise its renderers' "
                             "main threads (bench/renderer.py); tracing slows Chromium: read the CPU figures "
                             "of a run without it")
    args = parser.parse_args()
    extra = {"CHORUS_BROWSER_PATH": args.browser_path} if args.browser_path else {}
    pool = active_sirets()
    if args.suppliers > len(pool):
        parser.error(f"--suppliers: the sandbox has {len(pool)} active diffusible SIRETs")
    rows = []
    with SandboxProcess() as sandbox:
        if args.chromium_trace:
            extra["CHORUS_BROWSER_PATH"] = str(chromium_tracer(args.chromium_trace, args.browser_path, sandbox.env))
        for latency in args.latency.split(","):
            for trace in args.trace.split(","):
                for level in (int(x) for x in args.concurrency.split(",")):
                    traced = args.chromium_trace / f"{latency}-{trace}-c{level}.json" if args.chromium_trace else None
                    env = {**extra, "BENCH_CHROMIUM_TRACE": str(traced)} if traced else extra
                    row = run_scenario(sandbox, pool[: args.suppliers], level, latency, trace, args.py_spy, env)
                    if args.py_spy:
                        row["py_spy"] = py_spy_summary([args.py_spy / f"{latency}-{trace}-c{level}.folded"])
                    if traced and traced.exists():
                        row["renderer"] = summarise_renderer(traced)
                    rows.append(row)
                    print_row(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(r["statuses"].get("activated") == r["suppliers"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
