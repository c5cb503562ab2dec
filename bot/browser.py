"""Which Chromium the bot and the tests launch, and how (spec: cli.md, "Chromium").

One place for the rule, so the bot, the demo and pytest-playwright agree:
``CHORUS_BROWSER_PATH`` if set, else a Chromium already on the machine, else Playwright's
own download. On the machine, a headless run takes Chromium's old headless shell when it is
installed (Debian's ``chromium-headless-shell``, the build Playwright itself runs headless):
it has no browser UI to keep up, and ``bench/profile.py`` measured a quarter less CPU per
registration (the browser process 1.4 s -> 0.7 s) and 140 MB less memory than the full
``chromium``, which a headed run (``--headed``) still takes, as does a machine without it.
The launch flags are those a closed network needs (no background calls home, no component or
sync traffic, no first-run screens); ``--no-sandbox`` only as root, where Chromium's sandbox
cannot start.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError
from bot.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

DEBIAN_CHROMIUM = "/usr/bin/chromium"
HEADLESS_SHELL = "chromium-headless-shell"
DEBIAN_HEADLESS_SHELL = "/usr/bin/chromium-headless-shell"
CLOSED_NETWORK_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Playwright's own `--disable-features` list (chromiumSwitches in its driver), repeated here
# because Chromium keeps only the last `--disable-features` switch on its command line: ours
# alone would silently drop Playwright's. tests/unit/test_browser.py compares this copy
# with the installed Playwright's, so an upgrade that changes it fails there first.
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync", "DestroyProfileOnBrowserClose", "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable", "LensOverlay", "MediaRouter", "PaintHolding",
    "ThirdPartyStoragePartitioning", "AvoidCorsURLLoaderRestartOnRedirect", "TcpPortRandomizationWin",
    "OptimizationHints", "NetworkTimeServiceQuerying", "AimEnabled", "PreconnectToSearch",
    "msForceBrowserSignIn", "msEdgeUpdateLaunchServicesPreferredVersion",
)
# - No spare renderer kept warm for the next navigation: each browser context has its own
#   storage, so the spare (made for the default one) was thrown away and made again at every
#   page: bench/profile.py counted 116 renderer processes for 6 suppliers with it, 12 without,
#   and 3-8 % less CPU per registration.
# - No WebUI omnibox popup: Chromium builds one per window, in a renderer process of its own,
#   and each browser context's page is a window. A headless browser has no address bar to pop
#   it from; without it a context costs one renderer process instead of two.
OUR_DISABLED_FEATURES = (
    "SpareRendererForSitePerProcess", "WebUIOmniboxPopup", "WebUIOmniboxFullPopup", "WebUIOmniboxAimPopup",
)
NO_BROWSER = (
    "no Chromium found: set CHORUS_BROWSER_PATH, install Debian's chromium "
    "(apt-get install chromium) or run `playwright install chromium`"
)


def _is_root() -> bool:
    return os.geteuid() == 0


def find_chromium(settings: Settings, *, headless: bool = False) -> str | None:
    """The Chromium executable to launch, or None to let Playwright use its own download."""
    if settings.browser_path is not None:
        path = str(settings.browser_path)
        if not os.access(path, os.X_OK):
            raise ConfigError(f"CHORUS_BROWSER_PATH: {path} is not an executable file")
        return path
    if headless and (shell := _installed(HEADLESS_SHELL, DEBIAN_HEADLESS_SHELL)):
        return shell
    return _installed("chromium", DEBIAN_CHROMIUM)


def _installed(name: str, debian_path: str) -> str | None:
    """``name`` on PATH, else Debian's path to it when it runs, else None."""
    return shutil.which(name) or (debian_path if os.access(debian_path, os.X_OK) else None)


def launch_args() -> list[str]:
    features = "--disable-features=" + ",".join(PLAYWRIGHT_DISABLED_FEATURES + OUR_DISABLED_FEATURES)
    return CLOSED_NETWORK_ARGS + [features] + (["--no-sandbox"] if _is_root() else [])


def launch_options(settings: Settings, *, headless: bool | None = None, slow_mo: float | None = None) -> dict[str, Any]:
    """Keyword arguments for ``BrowserType.launch`` (also what the tests' fixtures use)."""
    headless = settings.headless if headless is None else headless
    return {
        "executable_path": find_chromium(settings, headless=headless),
        "args": launch_args(),
        # Playwright adds --no-sandbox itself unless told the sandbox is wanted.
        "chromium_sandbox": not _is_root(),
        "headless": headless,
        "slow_mo": settings.slow_mo_ms if slow_mo is None else slow_mo,
    }


def require_chromium(options: dict[str, Any], playwright_download: str) -> None:
    """ConfigError (one line) when ``launch_options`` found no Chromium on the machine and
    Playwright has none of its own (``playwright_download``: its ``chromium.executable_path``)."""
    if options["executable_path"] is None and not Path(playwright_download).exists():
        raise ConfigError(NO_BROWSER)


def launch_browser(
    playwright: "Playwright", settings: Settings, *, headless: bool | None = None, slow_mo: float | None = None
) -> "Browser":
    """Launch Chromium as the spec says; ConfigError (one line) when there is none to launch."""
    options = launch_options(settings, headless=headless, slow_mo=slow_mo)
    require_chromium(options, playwright.chromium.executable_path)
    return playwright.chromium.launch(**options)
