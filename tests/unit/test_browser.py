"""bot.browser: which Chromium is launched, with which flags, and the one-line error without one."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright._impl._driver import compute_driver_executable
from playwright.sync_api import Playwright

from bot.browser import (CLOSED_NETWORK_ARGS, OUR_DISABLED_FEATURES, PLAYWRIGHT_DISABLED_FEATURES, find_chromium,
                         launch_args, launch_browser, launch_options)
from bot.errors import ConfigError
from bot.settings import load_settings


def settings(**overrides):
    return load_settings(_env_file=None, **overrides)


def test_browser_path_setting_wins(tmp_path):
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_chromium(settings(browser_path=fake)) == str(fake)


def test_a_browser_path_that_cannot_run_is_one_clear_line(tmp_path):
    not_executable = tmp_path / "chromium"
    not_executable.write_text("")
    with pytest.raises(ConfigError, match=r"^CHORUS_BROWSER_PATH: .* is not an executable file$"):
        find_chromium(settings(browser_path=not_executable))


def test_the_machine_chromium_is_found_without_setting():
    assert find_chromium(settings(browser_path=None)) == "/usr/bin/chromium"  # Debian's, as on this project's machines


def test_a_headless_run_takes_the_headless_shell_and_a_headed_one_the_full_browser():
    # make test installs Debian's chromium-headless-shell beside chromium (scripts/install-system-deps.sh)
    assert find_chromium(settings(browser_path=None), headless=True) == "/usr/bin/chromium-headless-shell"
    assert launch_options(settings(browser_path=None), headless=False)["executable_path"] == "/usr/bin/chromium"
    assert launch_options(settings(browser_path=None, headless=True))["executable_path"].endswith("headless-shell")


def test_closed_network_flags_and_no_sandbox_only_as_root():
    args = launch_args()
    assert args[: len(CLOSED_NETWORK_ARGS)] == CLOSED_NETWORK_ARGS
    assert ("--no-sandbox" in args) == (os.geteuid() == 0)


def installed_playwright_disabled_features() -> set[str]:
    """The `disabledFeatures` list of the installed Playwright driver's Chromium switches."""
    _, cli = compute_driver_executable()
    lib = Path(cli).parent / "lib"
    for source in [lib / "coreBundle.js", *lib.rglob("chromiumSwitches.js")]:
        if source.is_file() and (found := re.search(r"disabledFeatures = \[(.*?)\]", source.read_text(), re.S)):
            return set(re.findall(r'^\s*"([A-Za-z0-9]+)"', found.group(1), re.M))
    raise AssertionError(f"no disabledFeatures list found under {lib}")


def test_one_disable_features_switch_that_keeps_playwrights_own():
    """Chromium keeps only the last `--disable-features`: ours must carry Playwright's list."""
    switches = [a for a in launch_args() if a.startswith("--disable-features=")]
    assert len(switches) == 1
    ours = set(switches[0].removeprefix("--disable-features=").split(","))
    assert set(OUR_DISABLED_FEATURES) <= ours
    installed = installed_playwright_disabled_features()
    assert len(installed) >= 5  # the list was read, not an empty match
    assert installed <= set(PLAYWRIGHT_DISABLED_FEATURES), (
        f"Playwright's list changed: add {sorted(installed - set(PLAYWRIGHT_DISABLED_FEATURES))} "
        "to bot.browser.PLAYWRIGHT_DISABLED_FEATURES")


def test_launch_browser_opens_a_working_chromium(playwright: Playwright):
    # pytest-playwright's session-wide Playwright: a second sync_playwright() in the
    # main thread fails once another test has started that one.
    browser = launch_browser(playwright, settings(), headless=True)
    try:
        page = browser.new_page()
        page.set_content("<button>Valider</button>")
        assert page.get_by_role("button", name="Valider").is_visible()
    finally:
        browser.close()


def test_a_browser_context_costs_only_its_page_no_browser_ui(playwright: Playwright):
    """Chromium built a WebUI omnibox popup, in a renderer process of its own, for every window,
    so for every browser context (bot.browser.OUR_DISABLED_FEATURES). A Chromium upgrade
    that brings it back under a new name shows here as a target that is not a page."""
    browser = launch_browser(playwright, settings(), headless=True)
    try:
        for _ in range(2):
            browser.new_context().new_page().set_content("<button>Valider</button>")
        targets = browser.new_browser_cdp_session().send("Target.getTargets")["targetInfos"]
        others = sorted(f"{t['type']} {t['url']}" for t in targets if t["type"] != "page")
        assert others == []
        assert sum(t["type"] == "page" for t in targets) == 2
    finally:
        browser.close()
