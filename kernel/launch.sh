#!/usr/bin/env bash
# Starts the evcxr kernel with a persistent build directory (EVCXR_TMPDIR).
#
# Why: without one, every kernel compiles the notebook's dependencies from
# scratch (about 20 s before the first cell runs). With one, a later kernel
# reuses the build and the `:dep` cell takes a few seconds.
# Catch: two kernels sharing one build directory at the same time corrupt each
# other's builds. So there is a small pool of directories, and each running
# kernel holds one under a file lock (released when the kernel exits). If all
# are busy, the kernel falls back to evcxr's own throw-away directory.
#
# Usage (from kernel.json): launch.sh /path/to/evcxr_jupyter {connection_file}
set -euo pipefail
evcxr="$1"
connection_file="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
pool="${CONCURRENCY_LAB_EVCXR_POOL:-$root/target/evcxr}"

# cargo and rustc must be on PATH for evcxr to compile cells.
PATH="$(dirname "$evcxr"):$PATH"
export PATH
# evcxr loads each compiled cell with a relative path to the toolchain's
# libstd that is one folder off; it resolves only when the build directory
# and the toolchain share no parent but `/` (so a clone inside $HOME with
# rustup in ~/.rustup would die at start-up). Telling the loader where libstd
# is makes it work wherever the two live.
if sysroot="$(rustc --print sysroot 2>/dev/null)"; then
    host="$(rustc -vV | sed -n 's/^host: //p')"
    export LD_LIBRARY_PATH="$sysroot/lib/rustlib/$host/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# Our own (empty) evcxr config, so a personal ~/.config/evcxr/init.evcxr does
# not change what the notebooks do.
export EVCXR_CONFIG_DIR="$here/evcxr"
# evcxr checks its kernelspec's version.txt at start-up; point it at ours.
export JUPYTER_PATH="$root/.venv/share/jupyter"

mkdir -p "$pool"
for slot in 0 1 2 3; do
    exec {lock}>"$pool/slot-$slot.lock"
    if flock -n "$lock"; then
        # The lock stays held through `exec` for the kernel's whole life.
        export EVCXR_TMPDIR="$pool/slot-$slot"
        mkdir -p "$EVCXR_TMPDIR"
        exec "$evcxr" --control_file "$connection_file"
    fi
    exec {lock}>&-
done
exec "$evcxr" --control_file "$connection_file"
