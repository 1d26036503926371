#!/usr/bin/env bash
# Installs what is missing (kernel/install.sh), then opens JupyterLab on the
# start-here notebook. Extra arguments go to `jupyter lab` (e.g. --no-browser).
set -euo pipefail
# shellcheck source=kernel/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
extra=()
# Jupyter refuses to run as root unless told (containers often are root).
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
exec "$root/.venv/bin/jupyter" lab "${extra[@]}" notebooks/00-start-here.ipynb "$@"
