#!/usr/bin/env bash
# Checks the Binder set-up as far as a machine without Docker can (tests/run.sh
# calls this):
#
#   1. binder/environment.yml's pins of evcxr, rust and rust-src agree with
#      each other (the table below: which rust each evcxr release can drive).
#   2. `repo2docker --no-build` renders the Dockerfile that mybinder.org would
#      build (as uid 1000), from binder/environment.yml and binder/postBuild,
#      with the conda environment activated in login shells.
#   3. Every shell script in the project passes shellcheck.
#   4. binder/postBuild runs as a non-root user in an empty home directory
#      holding a copy of the repository, as repo2docker runs it. The conda
#      environment is stood in for by a prefix with this machine's Rust
#      toolchain, the evcxr_jupyter that kernel/install.sh built, the Python
#      packages of .venv, and an activation script like conda-forge's rust
#      one (a linker for cargo), applied in login shells as on Binder. As
#      root, the user is a temporary one made for the run; otherwise it is
#      you, with HOME pointing at the empty directory.
#
# Not checked here (needs Docker or mybinder.org itself): that conda solves
# environment.yml, conda-forge's evcxr build, the image build, and the launch.
#
# Usage: binder/check.sh [--no-postbuild]   (skips step 4, the slow one)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
say() { printf '[binder] %s\n' "$*"; }
die() { printf '[binder] error: %s\n' "$*" >&2; exit 1; }
run_postbuild=1
case "${1:-}" in
    "") ;;
    --no-postbuild) run_postbuild="" ;;
    *) die "usage: $0 [--no-postbuild]" ;;
esac

# --- 1. the pins in binder/environment.yml agree -----------------------------------
# Which rust each evcxr release can drive: "evcxr-minor lowest-rust first-rust-too-new"
# ("-": none known). conda-forge's evcxr requires rust and rust-src with no
# bound (conda-forge/evcxr-feedstock recipe/recipe.yaml), so environment.yml
# must bound them itself. Sources, per column:
# - lowest: evcxr 0.19.0 and later compile cells as edition 2024, which needs
#   rust 1.85 (evcxr RELEASE_NOTES.md; the ctx Cargo.toml in evcxr/src/module.rs).
# - too new: cargo 1.100 always uses its new build-directory layout
#   (rust-lang/cargo PR 17354); evcxr before 0.22.0 looks for each compiled
#   cell in target/<triple>/debug/deps and fails (evcxr issue 487; fixed in
#   0.22.0 by evcxr PRs 488 and 497).
# A newer evcxr on conda-forge needs its row here before it can be pinned.
evcxr_rust_table=(
    "0.19 1.85 1.100"
    "0.20 1.85 1.100"
    "0.21 1.85 1.100"
    "0.22 1.85 -"
)
version_le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ]; }
# The version spec after a package's name on its `- name<spec>` line.
pin_of() {
    sed -n "s/^[[:space:]]*-[[:space:]]*$1\([=<>!][^[:space:]#]*\)[[:space:]]*\(#.*\)\{0,1\}\$/\1/p" "$root/binder/environment.yml"
}
check_pins() {
    local file="binder/environment.yml" evcxr_pin rust_pin src_pin evcxr_version minor rust_low rust_high row table_minor low high
    evcxr_pin="$(pin_of evcxr)"
    rust_pin="$(pin_of rust)"
    src_pin="$(pin_of rust-src)"
    [[ "$evcxr_pin" =~ ^==?(([0-9]+\.[0-9]+)\.[0-9]+)$ ]] \
        || die "$file: pin evcxr to one release (e.g. '- evcxr=0.21.1'), found 'evcxr$evcxr_pin'"
    evcxr_version="${BASH_REMATCH[1]}"
    minor="${BASH_REMATCH[2]}"
    [[ "$rust_pin" =~ ^\>=([0-9.]+),\<([0-9.]+)$ ]] \
        || die "$file: give rust a range '- rust>=LOW,<HIGH', found 'rust$rust_pin'"
    rust_low="${BASH_REMATCH[1]}"
    rust_high="${BASH_REMATCH[2]}"
    [ "$src_pin" = "$rust_pin" ] \
        || die "$file: pin rust-src exactly as rust ('rust-src$rust_pin'), found 'rust-src$src_pin'"
    for row in "${evcxr_rust_table[@]}"; do
        read -r table_minor low high <<< "$row"
        [ "$table_minor" = "$minor" ] || continue
        version_le "$low" "$rust_low" \
            || die "$file: evcxr $evcxr_version needs rust >= $low, but the pin 'rust$rust_pin' allows $rust_low"
        if [ "$high" != "-" ] && ! version_le "$rust_high" "$high"; then
            die "$file: evcxr $evcxr_version fails with rust >= $high (cargo's new build-directory layout, evcxr issue 487), but the pin 'rust$rust_pin' allows it: lower the bound to <$high, or pin an evcxr that supports it"
        fi
        if [ "$high" = "-" ]; then high=""; else high=", < $high"; fi
        say "ok: evcxr=$evcxr_version, rust$rust_pin and rust-src$src_pin agree (evcxr $minor drives rust >= $low$high)"
        return 0
    done
    die "$file: evcxr $evcxr_version has no row in binder/check.sh's evcxr_rust_table; look up which rust it supports and add one"
}
check_pins

"$root/kernel/install.sh" >/dev/null
want="$(sha256sum "$root/binder/check-requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$venv/.binder-check-requirements.sha256" 2>/dev/null)" != "$want" ]; then
    say "installing repo2docker and shellcheck into .venv (pinned in binder/check-requirements.txt)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/binder/check-requirements.txt"
    echo "$want" > "$venv/.binder-check-requirements.sha256"
fi

# --- 2. repo2docker renders the image -----------------------------------------
dockerfile="$(mktemp)"
trap 'rm -f "$dockerfile"' EXIT
if ! "$venv/bin/repo2docker" --no-build --debug --user-id 1000 --user-name jovyan "$root" >"$dockerfile" 2>&1; then
    cat "$dockerfile" >&2
    die "repo2docker --no-build failed"
fi
# The last two: Binder starts Jupyter (and so every kernel) through the
# entrypoint, under python3-login, a login shell in which activate-conda.sh
# activates the environment; binder/postBuild verifies from such a shell.
# shellcheck disable=SC2016  # literal text of the Dockerfile, not expanded here
for expected in 'env update -p ${NB_PYTHON_PREFIX} --file "binder/environment.yml"' 'RUN ./binder/postBuild' 'COPY --chown=1000:1000 src/' \
        ' /etc/profile.d/activate-conda.sh' 'ENTRYPOINT ["/usr/local/bin/repo2docker-entrypoint"]'; do
    grep -qF "$expected" "$dockerfile" || { cat "$dockerfile" >&2; die "the rendered Dockerfile lacks: $expected"; }
done
login="$("$venv/bin/python" -c 'import os, repo2docker.buildpacks as b; print(os.path.join(os.path.dirname(b.__file__), "python3-login"))')"
[ "$(head -n1 "$login")" = "#!/bin/bash -l" ] \
    || die "repo2docker's $login no longer starts a login shell: binder/postBuild's verify (bash -l) no longer starts kernels as Binder does"
say "ok: repo2docker $("$venv/bin/repo2docker" --version) renders the image (conda environment, postBuild as uid 1000, Jupyter from a login shell)"

# --- 3. shellcheck ---------------------------------------------------------------
mapfile -t scripts < <(cd "$root" && git ls-files -co --exclude-standard -- '*.sh' binder/postBuild .ci/run | sort -u)
for script in "${scripts[@]}"; do
    (cd "$root" && "$venv/bin/shellcheck" -x "$script")
done
say "ok: shellcheck $("$venv/bin/shellcheck" --version | sed -n 's/^version: //p'), ${#scripts[@]} scripts"

if [ -z "$run_postbuild" ]; then
    echo "binder: 3 passed, 0 failed"
    exit 0
fi

# --- 4. postBuild as a non-root user in an empty home ------------------------------
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# Home and prefix in different top-level folders, as on Binder (/home/jovyan,
# /srv/conda): evcxr links each cell with a relative rpath to the toolchain's
# libstd that is one folder off, and it resolves only because the extra `..`
# stops at `/`. Under one common parent (/tmp/x/home, /tmp/x/prefix) every
# kernel dies at its first cell with "dlopen failed".
prefix="$(mktemp -d /tmp/binder-check-prefix.XXXXXX)"
home="$(mktemp -d /var/tmp/binder-check-home.XXXXXX)"
chmod 755 "$prefix"
user=""
cleanup() {
    rm -f "$dockerfile"
    [ -z "$user" ] || userdel "$user" 2>/dev/null || true
    if [ -n "${BINDER_CHECK_KEEP:-}" ]; then
        say "kept $home and $prefix (BINDER_CHECK_KEEP)"
    else
        rm -rf "$home" "$prefix"
    fi
}
trap cleanup EXIT

# The stand-in for the conda environment. Hard links where possible (instant,
# and readable by the other user even when the originals sit in /root).
link() { cp -al "$@" 2>/dev/null || cp -a "$@"; }
sysroot="$(rustc --print sysroot)"
link "$sysroot/bin" "$sysroot/lib" "$prefix/"
link "$(command -v evcxr_jupyter)" "$prefix/bin/"
base_python="$("$venv/bin/python" -c 'import sys; print(sys._base_executable)')"
if [ "$(id -u)" = 0 ]; then
    # root's Python may live in /root; the other user needs one it can run.
    want_version="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    base_python=""
    for candidate in /usr/bin/python3 /usr/local/bin/python3; do
        if [ -x "$candidate" ] && [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$want_version" ]; then
            base_python="$candidate"
            break
        fi
    done
    [ -n "$base_python" ] || die "no python$want_version outside /root for the test user (apt-get install python3)"
fi
"$base_python" -m venv --without-pip "$prefix"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
link "$site/." "$("$prefix/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/"
# conda-forge's rust package adds etc/conda/activate.d/rust.sh, which sets
# cargo's linker (CARGO_TARGET_<TRIPLE>_LINKER, to the environment's C
# compiler: conda-forge/rust-feedstock recipe/install-rust.sh); cargo hashes it
# into every fingerprint. Stand in for it with this machine's cc, and for the
# conda-meta/ that tells kernel/launch.sh the environment is a conda one.
host="$(rustc -vV | sed -n 's/^host: //p')"
cc="$(command -v cc)" || die "no cc on PATH (the linker rustc uses)"
mkdir -p "$prefix/conda-meta" "$prefix/etc/conda/activate.d"
printf 'export CARGO_TARGET_%s_LINKER="%s"\n' "$(printf '%s' "$host" | tr 'a-z-' 'A-Z_')" "$cc" \
    > "$prefix/etc/conda/activate.d/rust.sh"

# The repository as repo2docker copies it: tracked and untracked-but-not-ignored files.
(cd "$root" && git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$home" -xf -
# Binder's login shells activate the environment (repo2docker's
# /etc/profile.d/activate-conda.sh: `mamba activate`, which puts its bin/ first
# and sources its activate.d/ scripts); binder/postBuild verifies from one.
# This machine's /etc/profile does not, so the test user's ~/.profile does.
cat > "$home/.profile" <<PROFILE
# Written by binder/check.sh: what Binder's /etc/profile.d/activate-conda.sh does.
export PATH="$prefix/bin:\$PATH" CONDA_PREFIX="$prefix"
for script in "$prefix"/etc/conda/activate.d/*.sh; do . "\$script"; done
PROFILE

if [ "$(id -u)" = 0 ]; then
    user="binder-check-$$"
    useradd --no-create-home --home-dir "$home" --shell /bin/bash "$user"
    chown -R "$user:" "$home"
    # On Binder the environment belongs to jovyan; here only share/ (where the
    # kernelspec goes) is the user's: chown on the hard links would reach /root.
    mkdir -p "$prefix/share"
    chown "$user:" "$prefix/share"
    as_user=(runuser -u "$user" --)
    say "running binder/postBuild as $user (uid $(id -u "$user")) in $home"
else
    as_user=()
    say "running binder/postBuild as $(id -un) with HOME=$home (not root: no other user to switch to)"
fi
start=$SECONDS
# shellcheck disable=SC2016  # $HOME is the test user's, expanded by its own shell
"${as_user[@]}" env -i HOME="$home" USER="${user:-$(id -un)}" LANG=C.UTF-8 \
    PATH="$prefix/bin:/usr/local/bin:/usr/bin:/bin" NB_PYTHON_PREFIX="$prefix" \
    bash -c 'cd "$HOME" && ./binder/postBuild' \
    || die "binder/postBuild failed as a non-root user (log above)"
spec="$prefix/share/jupyter/kernels/rust/kernel.json"
grep -qF "\"$home/kernel/launch.sh\"" "$spec" || die "postBuild did not register the kernel through kernel/launch.sh in $spec"
say "ok: binder/postBuild ran as a non-root user in an empty home in $((SECONDS - start)) s"
echo "binder: 4 passed, 0 failed"
