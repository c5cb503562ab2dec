"""Where a renderer's main thread spends its time, from a Chromium trace of a batch.

`bench/profile.py` says the renderers take about half of a registration's CPU; this script says
on what. `bench/profile.py --chromium-trace DIR` runs each scenario's Chromium with its start-up
tracing switched on (`--trace-startup`, JSON) and summarises each trace with `summarise`; this
script also summarises a trace recorded any other way:

    .venv/bin/python bench/renderer.py TRACE.json [--suppliers N]

Every task the renderer's main thread (`CrRendererMain`) ran is put in one bucket, by the first
event under it:

- ``injected script``: a DevTools message over 100 KB. Playwright sends its injected script
  (about 340 KB of JavaScript) in one `Runtime.evaluate` to each JavaScript world it queries
  in, once per document: the isolated world its locators use and, when the bot evaluates a
  function on elements (`evaluate_all`, `wait_for_function`), the page's main world too;
- ``other DevTools commands``: every other call of the driver (locator queries, actions, the
  trace's snapshots);
- ``documents``: navigations, HTML parsing and the pages' own scripts;
- ``frames``: style, layout, paint and the compositor's main-frame work;
- ``other``.

Tracing adds its own work to every task, so the shares count, not the milliseconds;
`bench/profile.py` measures CPU without it.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

MAIN_THREAD = "CrRendererMain"
BIG_MESSAGE = 100_000  # bytes: Playwright's injected script; its other messages are a few KB
CATEGORIES = (
    # Chromium's trace categories the buckets need; `devtools.timeline` names the tasks.
    "toplevel,blink,v8,devtools.timeline,loading,cc,disabled-by-default-devtools.timeline"
)
_WRAPPERS = {"ThreadControllerImpl::RunTask", "RunTask"}
_DOCUMENTS = ("content.mojom.NavigationClient", "content.mojom.AgentSchedulingGroup", "network.mojom.")
_DOCUMENT_TASKS = ("HTMLDocumentParser", "ParseHTML", "EvaluateScript", "DocumentLoader", "V8.Deserialize")
_FRAME_TASKS = ("ProxyMain::BeginMainFrame", "Document::UpdateStyleAndLayout", "Paint", "Layout", "UpdateLayoutTree")


def switches(trace_file: Path) -> list[str]:
    """Chromium's switches that write the whole run's trace to `trace_file` when it closes."""
    return [f"--trace-startup={CATEGORIES}", f"--trace-startup-file={trace_file}",
            "--trace-startup-format=json", "--trace-startup-duration=3600"]


def _bucket(event: dict) -> str:
    name = event["name"]
    if name == "Receive mojo message":
        info = event.get("args", {}).get("chrome_mojo_event_info", {})
        tag = info.get("mojo_interface_tag", "")
        if tag == "blink.mojom.DevToolsSession":
            big = info.get("data_num_bytes", 0) > BIG_MESSAGE
            return "injected script" if big else "other DevTools commands"
        return "documents" if tag.startswith(_DOCUMENTS) else "other"
    if name.startswith(_DOCUMENT_TASKS):
        return "documents"
    if name.startswith(_FRAME_TASKS):
        return "frames"
    return "other"


def summarise(trace_path: Path) -> dict:
    """Milliseconds of the renderers' main threads by bucket (thread time where recorded),
    and how many times the injected script was sent."""
    data = json.loads(trace_path.read_text(encoding="utf-8"))
    events = data["traceEvents"] if isinstance(data, dict) else data
    main_threads = {(e["pid"], e["tid"]) for e in events
                    if e.get("ph") == "M" and e.get("name") == "thread_name" and e["args"].get("name") == MAIN_THREAD}
    tasks = sorted((e for e in events if e.get("ph") == "X" and (e["pid"], e["tid"]) in main_threads),
                   key=lambda e: (e["pid"], e["tid"], e["ts"], -e.get("dur", 0)))
    spent: collections.Counter = collections.Counter()
    injected = 0
    thread, end, top, assigned = None, -1.0, None, True

    def cost(task: dict) -> float:
        return task.get("tdur", task.get("dur", 0))

    for event in tasks:
        if event["name"] == "Receive mojo message" and _bucket(event) == "injected script":
            injected += 1
        key = (event["pid"], event["tid"])
        if key != thread or event["ts"] >= end:  # the next top-level task
            if not assigned:
                spent["other"] += cost(top)
            thread, end, top, assigned = key, event["ts"] + event.get("dur", 0), event, False
        if not assigned and event["name"] not in _WRAPPERS:  # the first event that says what it is
            spent[_bucket(event)] += cost(top)
            assigned = True
    if not assigned:
        spent["other"] += cost(top)
    total = sum(spent.values())
    return {"main_thread_ms": round(total / 1000), "injected_script_sent": injected,
            "share_pct": {k: round(100 * v / total, 1) for k, v in spent.most_common()} if total else {}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--suppliers", type=int, default=1, help="registrations the trace holds")
    args = parser.parse_args()
    summary = summarise(args.trace)
    shares = ", ".join(f"{k} {v:g} %" for k, v in summary["share_pct"].items())
    print(f"renderer main threads: {summary['main_thread_ms']} ms traced; {shares}; injected script sent "
          f"{summary['injected_script_sent'] / args.suppliers:g} times per registration")
    return 0


if __name__ == "__main__":
    sys.exit(main())
