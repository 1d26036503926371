#!/usr/bin/env bash
# The project's whole test suite (what CI runs): installs what is missing,
# runs the crate's tests, then executes every notebook through the real kernel.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/kernel/install.sh"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export JUPYTER_PREFER_ENV_PATH=1
cd "$root"
cargo test --workspace
"$root/.venv/bin/python" "$root/tests/notebooks.py" "$@"
