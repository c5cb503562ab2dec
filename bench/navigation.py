"""What one navigation costs Chromium, by kind of process, and what locator queries add.

`bench/profile.py` says where a batch's CPU goes; this script isolates the unit underneath:
one page load in a browser driven by Playwright, as the bot's page objects load ~11 documents
per registration. It starts the sandbox in this process, launches Chromium with the bot's own
flags (`bot.browser.launch_options`), and for each scenario loads pages in one context while
sampling the CPU of every process below this one (the driver and Chromium's; this Python,
which also serves the sandbox, is left out):

- ``portal``: the home page and step 1 in turn (real pages of the sandbox);
- ``json``: a small JSON answer of the sandbox's test API (no style, no script): the cost of a
  navigation whatever the page holds;
- ``portal+locators``: ``portal`` plus 8 locator queries per page, about what an arrival check
  and a form step ask;
- ``portal+evaluate``: ``portal+locators`` plus one function evaluated on located elements
  (``evaluate_all``, as a press marks the old screen): Playwright then sends its injected
  script to the page's main world too, not only to the isolated world its locators use.

Usage:

    .venv/bin/python bench/navigation.py [--navigations 40] [--chromium-arg=--disable-gpu ...]

Figures are CPU milliseconds per navigation (utime + stime); run twice, as the machine's load
moves them by ~10 %.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from bench.profile import TICK, children_map, cpu_ticks, descendants, kind_of  # noqa: E402
from bot.browser import launch_options  # noqa: E402
from bot.settings import Settings, fields_from_env  # noqa: E402
from fixtures.portal.server import Sandbox  # noqa: E402


def cpu_by_kind() -> collections.Counter:
    """CPU seconds of every process below this one, by kind (this Python excluded)."""
    me = os.getpid()
    out: collections.Counter = collections.Counter()
    for pid in descendants(me, children_map()):
        ticks = cpu_ticks(pid) if pid != me else None
        if ticks is not None:
            out[kind_of(pid, me)] += ticks / TICK
    return out


def load(page: Page, scenario: str, i: int) -> None:
    if scenario == "json":
        page.goto(f"/_sandbox/knobs?n={i}")
        return
    page.goto("/account/new" if i % 2 else "/")
    if scenario == "portal+evaluate":
        page.get_by_role("link").evaluate_all("els => els.length")
    if scenario in ("portal+locators", "portal+evaluate"):
        for _ in range(4):
            page.get_by_role("heading").first.is_visible()
            page.get_by_role("link").count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--navigations", type=int, default=40)
    parser.add_argument("--chromium-arg", action="append", default=[], help="an extra Chromium switch")
    args = parser.parse_args()
    with Sandbox() as sandbox, sync_playwright() as playwright:
        settings = Settings(_env_file=None, **fields_from_env(sandbox.env))
        options = launch_options(settings)
        options["args"] = [*options["args"], *args.chromium_arg]
        browser = playwright.chromium.launch(**options)
        print(f"{args.navigations} navigations per scenario; extra switches: {args.chromium_arg or 'none'}")
        for scenario in ("portal", "json", "portal+locators", "portal+evaluate"):
            context = browser.new_context(base_url=sandbox.url)
            page = context.new_page()
            load(page, scenario, 0)  # the context's first page is not the steady state
            before, started = cpu_by_kind(), time.monotonic()
            for i in range(1, args.navigations + 1):
                load(page, scenario, i)
            after, wall = cpu_by_kind(), time.monotonic() - started
            per = {kind: 1000 * (after[kind] - before[kind]) / args.navigations for kind in after}
            shown = ", ".join(f"{kind} {ms:.0f}" for kind, ms in sorted(per.items(), key=lambda kv: -kv[1]) if ms >= 0.5)
            print(f"{scenario:16} CPU {sum(per.values()):4.0f} ms/navigation ({shown}); "
                  f"wall {1000 * wall / args.navigations:.0f} ms")
            context.close()
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
