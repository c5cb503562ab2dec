#!/usr/bin/env bash
# Installs what the bot and its tests need from Debian's packages: Chromium (and its headless
# shell), Dovecot, and
# PostgreSQL's server programs (the tests of several workers start a throw-away cluster).
# Idempotent: does nothing when everything is there.
set -euo pipefail

need=()
browser="${CHORUS_BROWSER_PATH:-}"
if [ -n "$browser" ] && [ ! -x "$browser" ]; then
  echo "CHORUS_BROWSER_PATH=$browser is not an executable file" >&2; exit 2
fi
if [ -z "$browser" ] && ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  need+=(chromium)
fi
# The old headless shell: what headless runs launch when it is there (bot/browser.py).
if [ -z "$browser" ] && [ ! -x /usr/bin/chromium-headless-shell ]; then
  need+=(chromium-headless-shell)
fi
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
[ -x /usr/lib/dovecot/imap ] || need+=(dovecot-imapd)
[ -x /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)

[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "missing Debian packages: ${need[*]} (run as root, or install them: apt-get install ${need[*]})" >&2; exit 2
  fi
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
