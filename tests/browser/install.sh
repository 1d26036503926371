#!/usr/bin/env bash
# Installs what the browser test needs, each only when it is missing:
#   - Debian's Chromium (/usr/bin/chromium), with apt-get when run as root;
#   - playwright-core, pinned in package-lock.json, with `npm ci` into
#     tests/browser/node_modules. It drives the installed Chromium and never
#     downloads a browser of its own.
# Safe to run again: a second run changes nothing and takes a moment.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
say() { printf '[browser] %s\n' "$*"; }
die() { printf '[browser] error: %s\n' "$*" >&2; exit 1; }

if [ ! -x /usr/bin/chromium ] || ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing Debian's chromium (and node, npm if missing) with apt-get"
        packages=(chromium)
        command -v node >/dev/null || packages+=(nodejs)
        command -v npm >/dev/null || packages+=(npm)
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    else
        die "the browser test needs Debian's Chromium at /usr/bin/chromium, node and npm. Install them as root (sudo apt-get install chromium nodejs npm) and run this again."
    fi
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "playwright-core needs node 20 or newer; this is node $(node --version)"

want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$here/node_modules/.lock.sha256" 2>/dev/null)" != "$want" ]; then
    say "installing playwright-core (pinned in tests/browser/package-lock.json)"
    (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$here/node_modules/.lock.sha256"
fi
