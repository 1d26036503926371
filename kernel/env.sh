# shellcheck shell=bash
# Sourced by kernel/lab.sh and tests/run.sh, so both start the same way:
# install what is missing (kernel/install.sh), put cargo's binaries on PATH,
# prefer the kernelspec in .venv, and move to the repository root ($root).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/kernel/install.sh"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# A `rust` kernelspec of the user's own (~/.local/share/jupyter) must not
# shadow ours.
export JUPYTER_PREFER_ENV_PATH=1
cd "$root" || exit
