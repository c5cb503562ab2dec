"""`make bench`: the speed issue's figures, each against its target, in one run.

On one sandbox (its own process, so that its CPU is its own) at the portal's own pace
(default profile: 250 ms a page, a 1.5 s autofill, mails 1 s late), it runs:

- the plain script a user would write instead (`bench/baseline.py`: one supplier after
  another, a fresh Chromium each, the mailbox polled every second);
- `chorus-bot batch` at each concurrency level (default 1, 2, 4, 8) with the default
  settings (trace, secret key), sampled as `bench/profile.py` does (CPU of every process of
  the bot's tree, PSS of the tree); each level registers max(8, 2 x level) suppliers, so that
  what a batch pays once (Python's start, Chromium's launch, the mailbox's log-in) weighs
  little on each registration;
- `chorus-bot batch` with one supplier at concurrency 1: with the first level's run, it splits
  CPU into what a batch pays once (start-up) and what each registration adds; both are
  printed beside the targets, for information (the CPU target row keeps start-up in);
- the plain script's `--lean` form (one Chromium for every supplier, the bot's switches, one
  mailbox log-in asked every 0.1 s, no trace, no checks) on one supplier and on `--lean`
  suppliers: its time per supplier against the floor, and the CPU each registration adds
  there, are about the least this journey costs on Playwright and Chromium; both are printed
  for information beside the bot's;

then prints every figure beside its target and writes `docs/BENCHMARKS.md` (the table, the
command) and `docs/benchmarks.png` (throughput and memory against concurrency, the
baseline beside them). Usage:

    .venv/bin/python bench/targets.py [--profile default|live-like] [--levels 1,2,4,8]
                                      [--baseline 3] [--lean 8] [--out docs/BENCHMARKS.md] [--json FILE]

The floor of a registration is the sandbox's own time for it: its server durations (the
`duration_ms` of each hit in `/_sandbox/state`, latency and autofill included) plus the
mail delay it was told to add. "Mail noticed" is the time from the mail's delivery to
Dovecot (`delivered_at`) to the bot's log line that the flow has it, counted from when the
flow started waiting if that was later. `--profile live-like` runs the account-first journey
with the captcha knob off (a person's answer time is not the bot's); the plain and lean
scripts only know the guide's journey and are then left out.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # see bench/profile.py
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.profile import LATENCY, SandboxProcess, TreeSampler, run_scenario, write_batch  # noqa: E402
from bench.run import active_sirets  # noqa: E402

PACE = LATENCY["slow"]  # the speed issue's pace: 250 ms a page, 1.5 s autofill, mails 1 s late
TRACE = "retain-on-failure"  # the default setting
FOUND = re.compile(r"^activation mail for (\S+) found")


# ---- one run of the bot ------------------------------------------------------------------------


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def _inspector(url: str):
    """Reads, before the run's folder goes: the floor (from the sandbox's hits) and the delay
    from each mail's delivery to the bot's noticing it (from the JSON log)."""

    def inspect(folder: Path) -> dict:
        state = httpx.get(f"{url}/_sandbox/state", timeout=30).json()
        server_s = sum(h["duration_ms"] for h in state["hits"]) / 1000
        delivered = {m["to"].lower(): _time(m["delivered_at"]) for m in state["mails"]
                     if m["kind"] == "activation" and m["delivered_at"]}
        # The "found" line comes from the mail watcher's thread (no SIRET in its context); the
        # flow's "at activation mail" line has the SIRET: the accounts tie the two.
        siret_of = {a["email"].lower(): a["siret"] for a in state["accounts"]}
        waiting_since: dict[str, datetime] = {}
        notice: list[float] = []
        for log in sorted((folder / "artifacts" / "logs").glob("*.log*")):
            for line in log.read_text(errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                message, at = record.get("message", ""), _time(record["time"])
                if message == "at activation mail":
                    waiting_since.setdefault(record.get("siret") or "", at)
                if (found := FOUND.match(message)) and (email := found.group(1).lower()) in delivered:
                    since = waiting_since.get(siret_of.get(email, ""))
                    if since is not None:  # else the flow's wait was not seen: no figure
                        notice.append(max(0.0, (at - max(delivered[email], since)).total_seconds()))
        return {"server_s": server_s, "mail_notice_s": notice}

    return inspect


def run_bot(sandbox: SandboxProcess, sirets: list[str], level: int, latency: str) -> dict:
    extra = {"CHORUS_LOG_FORMAT": "json", "CHORUS_LOG_LEVEL": "INFO", "CHORUS_CAPTCHA": "none"}
    knobs = {"captcha": False} if sandbox.profile != "default" else None  # a person's time is not the bot's
    return run_scenario(sandbox, sirets, level, latency, TRACE, None, extra_env=extra,
                        inspect=_inspector(sandbox.url), knobs=knobs)


# ---- the baseline ------------------------------------------------------------------------------


def run_baseline(sandbox: SandboxProcess, sirets: list[str], lean: bool = False) -> dict:
    """The plain script on `sirets` (``lean``: its ``--lean`` form, one Chromium for all)."""
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    httpx.post(f"{sandbox.url}/_sandbox/knobs", json=PACE).raise_for_status()
    with tempfile.TemporaryDirectory(prefix="chorus-baseline-") as tmp_name:
        tmp = Path(tmp_name)
        write_batch(tmp / "batch.csv", sirets)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_")} | sandbox.env
        (tmp / "tmp").mkdir()
        env["TMPDIR"] = str(tmp / "tmp")
        sampler = TreeSampler(roots={"sandbox": sandbox.pid}).start()
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(HERE / "baseline.py"), *(["--lean"] if lean else []),
                                 str(tmp / "batch.csv")],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sampler.add_root("bot", proc.pid)
        out, err = proc.communicate()
        wall = time.perf_counter() - started
        sampler.stop()
    hits = httpx.get(f"{sandbox.url}/_sandbox/state", timeout=30).json()["hits"]
    lines = [line.split(" ", 2) for line in out.splitlines() if line.count(" ") >= 2]
    activated = sum(parts[2] == "activated" for parts in lines)
    if activated != len(sirets):
        sys.stderr.write(out[-2000:] + err[-2000:])
    by_kind = sampler.cpu_by_kind("bot")
    cpu = sum(by_kind.values())
    return {"suppliers": len(sirets), "activated": activated, "wall_s": round(wall, 2),
            "per_supplier_s": round(wall / len(sirets), 2), "cpu_s": round(cpu, 3),
            "server_s": sum(h["duration_ms"] for h in hits) / 1000,
            "cpu_per_reg_s": round(cpu / len(sirets), 3),
            "cpu_by_kind_s": {kind: round(seconds, 3) for kind, seconds in sorted(by_kind.items())}}


# ---- figures against targets -------------------------------------------------------------------


def added_cpu(few: dict, many: dict, cpu_key: str) -> float:
    """CPU each registration adds, from two runs of the same thing on fewer and on more
    suppliers: the extra suppliers of the larger run cost only that."""
    return (many[cpu_key] - few[cpu_key]) / max(1, many["suppliers"] - few["suppliers"])


def start_up_cpu(one: dict, single: dict) -> tuple[float, float]:
    """(CPU a batch pays once, CPU each registration adds), from the first level's run and a
    one-supplier run at the same level."""
    added = added_cpu(single, one, "bot_cpu_s")
    return single["bot_cpu_s"] - added * single["suppliers"], added


def lean_added_cpu(lean: dict[int, dict]) -> float | None:
    """CPU each registration adds in the lean script: from its runs on one supplier and on more."""
    if len(lean) < 2:
        return None
    return added_cpu(lean[min(lean)], lean[max(lean)], "cpu_s")


def evaluate(levels: dict[int, dict], baseline: dict | None, mail_delay_s: float,
             single: dict | None = None, lean: dict[int, dict] | None = None) -> list[dict]:
    """One row per target of the speed issue: figure, target, met; then rows for information
    (met None) on what a batch pays once, when `single` (a one-supplier run) was measured, and
    on what the lean script's registrations add, when `lean` (its runs by size) was."""
    one, top = levels[min(levels)], levels[max(levels)]
    rows = []

    def add(what: str, figure: float | None, target: str, met: bool | None, unit: str = "") -> None:
        rows.append({"what": what, "figure": None if figure is None else round(figure, 2), "unit": unit,
                     "target": target, "met": met})

    floor = one["server_s"] / one["suppliers"] + mail_delay_s
    per_one = one["wall_s"] / one["suppliers"]
    add("concurrency 1: time per supplier / floor", per_one / floor, "≤ 1.10", per_one / floor <= 1.10, "×")
    ratio = (top["suppliers"] / top["wall_s"]) / (one["suppliers"] / one["wall_s"])
    add(f"throughput at concurrency {max(levels)} / at 1", ratio, "≥ 7", ratio >= 7, "×")
    if baseline:
        gain = baseline["per_supplier_s"] / (top["wall_s"] / top["suppliers"])
        add(f"plain script's time per supplier / the bot's at concurrency {max(levels)}", gain, "≥ 10", gain >= 10, "×")
    worst_cpu = max(row["bot_cpu_per_reg_s"] for row in levels.values())
    add("CPU of the bot's process tree per registration (worst level)", worst_cpu, "≤ 1.0 s", worst_cpu <= 1.0, "s")
    extra = (top["peak_pss_mb"] - one["peak_pss_mb"]) / max(1, max(levels) - 1)
    add("PSS per extra registration in flight", extra, "≤ 80 MB", extra <= 80, "MB")
    notices = sorted(n for row in levels.values() for n in row["mail_notice_s"])
    p95 = notices[max(0, int(len(notices) * 0.95) - 1)] if notices else None
    add("activation mail noticed after delivery, p95", p95, "≤ 0.5 s", None if p95 is None else p95 <= 0.5, "s")
    if single and single["suppliers"] < one["suppliers"]:
        once, added = start_up_cpu(one, single)
        add("information: CPU a batch pays once (start-up), from a one-supplier run", once, "-", None, "s")
        add(f"information: CPU each registration adds, at concurrency {min(levels)}", added, "-", None, "s")
        per_level = {level: (row["bot_cpu_s"] - once) / row["suppliers"] for level, row in levels.items()}
        add("information: CPU per registration, start-up left out (worst level)", max(per_level.values()), "-",
            None, "s")
    if lean and (lean_added := lean_added_cpu(lean)) is not None:
        most = lean[max(lean)]
        lean_floor = most["server_s"] / most["suppliers"] + mail_delay_s
        add("information: the lean script's time per supplier / floor",
            most["wall_s"] / most["suppliers"] / lean_floor, "-", None, "×")
        add("information: CPU each registration adds in the lean script", lean_added, "-", None, "s")
    return rows


# ---- the page ----------------------------------------------------------------------------------


def chart(levels: dict[int, dict], baseline: dict | None, png: Path) -> None:
    """Throughput and peak memory against concurrency, drawn as SVG and saved by Chromium as PNG."""
    from playwright.sync_api import sync_playwright

    from bot.browser import launch_options
    from bot.settings import load_settings

    xs = sorted(levels)
    per_min = [levels[x]["statuses"].get("activated", 0) / levels[x]["wall_s"] * 60 for x in xs]
    pss = [levels[x]["peak_pss_mb"] for x in xs]
    base = 60 / baseline["per_supplier_s"] if baseline else None
    width, height, left, bottom, top = 760, 360, 60, 300, 30

    def panel(x0: int, values: list[float], ref: float | None, title: str, unit: str, colour: str) -> str:
        w = width // 2 - left - 20
        vmax = max(values + ([ref] if ref else [])) * 1.15 or 1
        px = lambda i: x0 + left + (i + 0.5) * w / len(xs)  # noqa: E731
        py = lambda v: bottom - (bottom - top) * v / vmax  # noqa: E731
        bars = "".join(
            f'<rect x="{px(i) - 14:.0f}" y="{py(v):.0f}" width="28" height="{bottom - py(v):.0f}" fill="{colour}"/>'
            f'<text x="{px(i):.0f}" y="{py(v) - 4:.0f}" text-anchor="middle">{v:.0f}</text>'
            f'<text x="{px(i):.0f}" y="{bottom + 16}" text-anchor="middle">{x}</text>'
            for i, (x, v) in enumerate(zip(xs, values)))
        line = (f'<line x1="{x0 + left}" x2="{x0 + left + w}" y1="{py(ref):.0f}" y2="{py(ref):.0f}" stroke="#c00" '
                f'stroke-dasharray="6 4"/><text x="{x0 + left + w}" y="{py(ref) - 4:.0f}" text-anchor="end" '
                f'fill="#c00">plain script {ref:.1f}</text>') if ref else ""
        return (f'<text x="{x0 + left}" y="18" font-weight="bold">{title}</text>'
                f'<line x1="{x0 + left}" x2="{x0 + left}" y1="{top}" y2="{bottom}" stroke="#333"/>'
                f'<line x1="{x0 + left}" x2="{x0 + left + w}" y1="{bottom}" y2="{bottom}" stroke="#333"/>'
                f'<text x="{x0 + 10}" y="{(top + bottom) // 2}" transform="rotate(-90 {x0 + 10} {(top + bottom) // 2})"'
                f' text-anchor="middle">{unit}</text>{bars}{line}'
                f'<text x="{x0 + left + w / 2:.0f}" y="{bottom + 34}" text-anchor="middle">concurrency</text>')

    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12">{panel(0, per_min, base, "Activated suppliers a minute", "per minute", "#3558d6")}'
           f'{panel(width // 2, pss, None, "Peak memory (PSS of the bot and its browser)", "MB", "#6a9c3a")}</svg>')
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_options(load_settings(_env_file=None), headless=True))
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_content(f'<body style="margin:0;background:#fff">{svg}</body>')
        page.screenshot(path=str(png))
        browser.close()


def markdown(profile: str, levels: dict[int, dict], baseline: dict | None, rows: list[dict], command: str,
             png_name: str, single: dict | None = None, lean: dict[int, dict] | None = None) -> str:
    out = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`{command}`) on the machine it ran on: {os.cpu_count()} cores. The sandbox "
        f"profile is `{profile}`" + (", at the portal's pace: 250 ms a page, a 1.5 s autofill, mails 1 s late."
                                     if profile == "default" else " (captcha knob off)."),
        "Wall times vary with the machine's load; CPU seconds much less. How each figure is measured: "
        "`bench/targets.py`.",
        "",
        "## Against the targets",
        "",
        "| figure | measured | target | met |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        figure = "n/a" if row["figure"] is None else f"{row['figure']:g} {row['unit']}".strip()
        met = "n/a" if row["met"] is None else ("yes" if row["met"] else "**no**")
        out.append(f"| {row['what']} | {figure} | {row['target']} | {met} |")
    out += ["", "## Runs", "",
            "| run | suppliers | wall s | s per supplier | activated a minute | p50 supplier s | CPU s per registration | peak PSS MB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    plain = [("plain script (`bench/baseline.py`)", baseline)] if baseline else []
    plain += [(f"lean script (`bench/baseline.py --lean`), {count} supplier{'s' if count > 1 else ''}", row)
              for count, row in sorted((lean or {}).items())]
    for name, row in plain:
        out.append(f"| {name} | {row['suppliers']} | {row['wall_s']} | "
                   f"{row['per_supplier_s']} | {60 / row['per_supplier_s']:.1f} | - | "
                   f"{row['cpu_per_reg_s']} | - |")
    runs = [(f"chorus-bot, concurrency {level}", row) for level, row in sorted(levels.items())]
    if single:
        runs.append((f"chorus-bot, concurrency {min(levels)}, one supplier (start-up)", single))
    for name, row in runs:
        activated = row["statuses"].get("activated", 0)
        out.append(f"| {name} | {row['suppliers']} | {row['wall_s']} | "
                   f"{row['wall_per_supplier_s']} | {activated / row['wall_s'] * 60:.1f} | "
                   f"{row['mean_supplier_s']} | {row['bot_cpu_per_reg_s']} | {row['peak_pss_mb']} |")
    top = levels[max(levels)]
    kinds = ", ".join(f"{k} {v:g}" for k, v in top["bot_cpu_per_reg_by_kind_s"].items())
    out += ["", f"CPU seconds per registration by process kind at concurrency {max(levels)}: {kinds}.", "",
            f"![Throughput and memory against concurrency]({png_name})", ""]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=("default", "live-like"), default="default")
    parser.add_argument("--levels", default="1,2,4,8", help="concurrency levels; the first and the last are compared")
    parser.add_argument("--baseline", type=int, default=3, help="suppliers for the plain script (0: none)")
    parser.add_argument("--lean", type=int, default=8,
                        help="suppliers for the lean script, also run on one (0 or 1: not run)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    levels = sorted({int(x) for x in args.levels.split(",")})
    pool = active_sirets()
    command = "python bench/targets.py " + " ".join(sys.argv[1:])
    latency = "slow" if args.profile == "default" else "none"
    mail_delay_s = PACE["mail_delay_ms"] / 1000 if args.profile == "default" else 0.0
    with SandboxProcess(args.profile) as sandbox:
        if args.profile != "default":
            knobs = httpx.get(f"{sandbox.url}/_sandbox/state").json()["knobs"]
            delay = knobs["mail_delay_ms"]
            mail_delay_s = (sum(delay) / 2 if isinstance(delay, list) else delay) / 1000
        baseline = None
        if args.baseline and args.profile == "default":
            print(f"plain script, {args.baseline} suppliers ...", flush=True)
            baseline = run_baseline(sandbox, pool[: args.baseline])
            print(f"  {baseline}", flush=True)
        lean: dict[int, dict] = {}
        if args.lean > 1 and args.profile == "default":
            for count in (1, args.lean):
                print(f"lean script, {count} supplier{'s' if count > 1 else ''} ...", flush=True)
                lean[count] = run_baseline(sandbox, pool[:count], lean=True)
                print(f"  {lean[count]}", flush=True)
        measured: dict[int, dict] = {}
        for level in levels:
            count = min(len(pool), max(8, 2 * level))
            print(f"chorus-bot, concurrency {level}, {count} suppliers ...", flush=True)
            measured[level] = run_bot(sandbox, pool[:count], level, latency)
            row = measured[level]
            print(f"  wall {row['wall_s']} s, {row['bot_cpu_per_reg_s']} s CPU per registration, "
                  f"peak PSS {row['peak_pss_mb']} MB, {row['statuses']}", flush=True)
        print(f"chorus-bot, concurrency {levels[0]}, 1 supplier (what a batch pays once) ...", flush=True)
        single = run_bot(sandbox, pool[:1], levels[0], latency)
        print(f"  wall {single['wall_s']} s, {single['bot_cpu_s']} s CPU, {single['statuses']}", flush=True)
    rows = evaluate(measured, baseline, mail_delay_s, single, lean)
    print()
    for row in rows:
        met = "n/a" if row["met"] is None else ("met" if row["met"] else "NOT MET")
        print(f"{row['what']:<75} {row['figure']!s:>8} {row['unit']:<3} target {row['target']:<8} {met}")
    png = args.out.with_name("benchmarks.png" if args.profile == "default" else f"benchmarks-{args.profile}.png")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    chart(measured, baseline, png)
    page = markdown(args.profile, measured, baseline, rows, command, png.name, single, lean)
    args.out.write_text(page, encoding="utf-8")
    print(f"\nwrote {args.out} and {png}")
    if args.json:
        figures = {"levels": measured, "one_supplier": single, "baseline": baseline, "lean": lean, "targets": rows}
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    complete = all(r["statuses"].get("activated") == r["suppliers"] for r in [*measured.values(), single])
    scripts = [baseline, *lean.values()] if baseline else list(lean.values())
    return 0 if complete and all(r["activated"] == r["suppliers"] for r in scripts) else 1


if __name__ == "__main__":
    sys.exit(main())
