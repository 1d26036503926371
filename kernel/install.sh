#!/usr/bin/env bash
# Installs everything the notebooks need, and nothing outside this project
# and the user's own Rust toolchain. Safe to run again: each step is skipped
# when it is already done, so a second run takes seconds and changes nothing.
#
#   1. evcxr_jupyter (pinned) with `cargo install`, into ~/.cargo/bin
#   2. rustup's rust-src component, for completions (optional)
#   3. a Python virtual environment in .venv with pinned JupyterLab (kernel/requirements.txt)
#   4. the `rust` kernelspec inside .venv, started through kernel/launch.sh
#
# No root needed. Prints what it does; exits non-zero with a message on failure.
#
# `install.sh --kernelspec-only PREFIX` does step 4 alone, for an environment
# that already has Jupyter and a packaged evcxr_jupyter on PATH (the Binder
# image, see binder/postBuild): the same kernel.json, written into
# PREFIX/share/jupyter, starting the evcxr_jupyter found on PATH.
set -euo pipefail

EVCXR_VERSION=0.22.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
say() { printf '[install] %s\n' "$*"; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }

kernelspec_only=""
case "${1:-}" in
    "") ;;
    --kernelspec-only)
        if [ $# -ne 2 ] || [ ! -d "$2" ]; then
            die "usage: $0 --kernelspec-only PREFIX (an existing directory)"
        fi
        kernelspec_only="$(cd "$2" && pwd)" ;;
    *) die "unknown option '$1' (usage: $0 [--kernelspec-only PREFIX])" ;;
esac

if [ -n "$kernelspec_only" ]; then
    evcxr="$(command -v evcxr_jupyter)" || die "--kernelspec-only: no evcxr_jupyter on PATH"
    # evcxr_jupyter has no --version: the binary's checksum tells builds apart.
    evcxr_version="on PATH, cksum $(cksum < "$evcxr" | cut -d' ' -f1)"
    jupyter_data="$kernelspec_only/share/jupyter"
else
    # --- 1. Rust and evcxr_jupyter ------------------------------------------------
    cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
    export PATH="$cargo_bin:$PATH"
    command -v cargo >/dev/null || die "cargo not found: install Rust first (rustup), then run this again"
    if ! cargo install --list | grep -qx "evcxr_jupyter v$EVCXR_VERSION:"; then
        say "building evcxr_jupyter $EVCXR_VERSION (once; about 7 minutes on 2 cores)"
        cargo install evcxr_jupyter --version "$EVCXR_VERSION" --locked
    fi
    evcxr="$cargo_bin/evcxr_jupyter"
    [ -x "$evcxr" ] || die "evcxr_jupyter is not in $cargo_bin after installing it"

    # --- 2. rust-src (completions only: never fatal) ------------------------------
    if command -v rustup >/dev/null && ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
        say "adding rustup component rust-src (for completions)"
        timeout 300 rustup component add rust-src >/dev/null 2>&1 || say "could not add rust-src; completions will be poorer, nothing else changes"
    fi

    # --- 2b. clippy (the test command lints with it; never fatal here) ----------
    if ! cargo clippy --version >/dev/null 2>&1 && command -v rustup >/dev/null; then
        say "adding rustup component clippy (the test command uses it)"
        timeout 300 rustup component add clippy >/dev/null 2>&1 || say "could not add clippy; ./tests/run.sh will skip the lint step"
    fi

    # --- 3. Python virtual environment with JupyterLab ------------------------------
    if [ ! -x "$venv/bin/python" ]; then
        say "creating the Python environment $venv"
        if ! python3 -m venv "$venv" 2>/dev/null; then
            rm -rf "$venv"
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
                say "python3 cannot make virtual environments here; installing Debian's python3-venv"
                apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
                python3 -m venv "$venv"
            else
                die "python3 cannot create a virtual environment; on Debian/Ubuntu install python3-venv (sudo apt-get install python3-venv) and run this again"
            fi
        fi
    fi
    want="$(sha256sum "$root/kernel/requirements.txt" | cut -d' ' -f1)"
    if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
        say "installing JupyterLab and the test tools into .venv (pinned in kernel/requirements.txt)"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/kernel/requirements.txt"
        echo "$want" > "$venv/.requirements.sha256"
    fi
    evcxr_version="$EVCXR_VERSION"
    jupyter_data="$venv/share/jupyter"
fi

# --- 4. The rust kernelspec, inside .venv (or PREFIX) -------------------------
# evcxr writes its kernelspec (logos, version.txt) under $JUPYTER_PATH; we then
# replace its kernel.json so the kernel starts through kernel/launch.sh, which
# gives each running kernel its own persistent build directory.
spec="$jupyter_data/kernels/rust"
kernel_json="$(cat <<JSON
{
  "argv": ["$root/kernel/launch.sh", "$evcxr", "{connection_file}"],
  "display_name": "Rust",
  "language": "rust",
  "interrupt_mode": "message"
}
JSON
)"
# Re-register when the kernel.json or the evcxr version changes (evcxr rewrites
# a kernelspec whose version.txt is not its own, which would drop our launcher).
stamp="evcxr_jupyter $evcxr_version $kernel_json"
if [ "$(cat "$spec/.registered" 2>/dev/null)" != "$stamp" ]; then
    say "registering the rust kernel in ${jupyter_data%/share/jupyter}"
    JUPYTER_PATH="$jupyter_data" "$evcxr" --install >/dev/null
    printf '%s\n' "$kernel_json" > "$spec/kernel.json"
    printf '%s\n' "$stamp" > "$spec/.registered"
fi
if [ -n "$kernelspec_only" ]; then
    say "ready: kernel 'rust' in $kernelspec_only, starting $evcxr through kernel/launch.sh"
    exit 0
fi
say "ready: evcxr_jupyter $EVCXR_VERSION, $("$venv/bin/jupyter" lab --version 2>/dev/null | sed 's/^/JupyterLab /'), kernel 'rust' in .venv"
