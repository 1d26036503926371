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
# In a conda environment (the Binder image) it also applies the environment's
# activation scripts first, so every kernel builds with the same settings.
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
# When evcxr comes from a conda environment (the Binder image), apply that
# environment's activation scripts, as `conda activate` would. conda-forge's
# rust package ships etc/conda/activate.d/rust.sh, which sets
# CARGO_TARGET_<TRIPLE>_LINKER (conda-forge/rust-feedstock:
# recipe/install-rust.sh), and cargo hashes the linker into every build's
# fingerprint. Binder starts Jupyter from a login shell, which activates the
# environment, but runs binder/postBuild (which warms the build directories)
# without: applied here, every kernel sees the same environment however Jupyter
# was started, and a visitor's kernel reuses the warmed build. A local install
# (evcxr in ~/.cargo/bin, no conda-meta/ beside it) skips this.
conda_env="$(dirname "$(dirname "$evcxr")")"
if [ -d "$conda_env/conda-meta" ] && [ -d "$conda_env/etc/conda/activate.d" ]; then
    CONDA_PREFIX="${CONDA_PREFIX:-$conda_env}"
    set +eu  # the scripts are written for an interactive shell's defaults
    for script in "$conda_env"/etc/conda/activate.d/*.sh; do
        # shellcheck source=/dev/null
        if [ -r "$script" ]; then . "$script"; fi
    done
    set -eu
fi
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
