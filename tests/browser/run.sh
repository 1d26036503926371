#!/usr/bin/env bash
# The browser test (tests/browser/test.mjs): installs Chromium and
# playwright-core when missing (tests/browser/install.sh), then runs it.
# Needs an executed notebook in target/notebooks/ (tests/run.sh runs the
# notebook tests first); screenshots land in target/browser/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/install.sh"
exec node "$here/test.mjs"
