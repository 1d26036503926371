#!/usr/bin/env bash
# Installs what is missing (kernel/install.sh), then opens JupyterLab on the
# start-here notebook. Extra arguments go to `jupyter lab` (e.g. --no-browser).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/kernel/install.sh"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export JUPYTER_PREFER_ENV_PATH=1
cd "$root"
extra=()
# Jupyter refuses to run as root unless told (containers often are root).
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
exec "$root/.venv/bin/jupyter" lab "${extra[@]}" notebooks/00-start-here.ipynb "$@"
