"""Warms evcxr's build cache while the Binder image is built, then checks it.

    python binder/warm.py warm     execute every notebook in notebooks/ once,
                                   then copy the warm build directory to a
                                   spare slot for a second open notebook
    python binder/warm.py verify   fresh kernels in either slot run the set-up
                                   cell; they must not recompile a dependency,
                                   and evcxr must run cargo offline

Run by binder/postBuild. Kernels come from the notebook harness
(tests/notebooks.py: same kernel, same per-cell time limits), so what warms the
cache is exactly what the tests run. The shipped notebooks are executed as they
are (exercises unsolved).
"""

import fcntl
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from notebooks import NOTEBOOKS, execute  # noqa: E402  (the harness, not a package)

POOL = ROOT / "target" / "evcxr"  # kernel/launch.sh's build directories, slot-0 to slot-3
# JupyterLab keeps a notebook's kernel running after its tab is closed, so a
# visitor's second notebook often starts while the first kernel holds slot-0.
# One spare warm slot covers that (each costs about 120 MB of image).
WARM_SLOTS = 2


def say(text):
    print(f"[warm] {text}", flush=True)


def errors(nb):
    return [
        f"cell {i}: {o.get('ename')}: {o.get('evalue', '')[:200]}"
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def setup_cell(nb):
    return next(c for c in nb.cells if c.cell_type == "code")


def warm():
    """Fails only when a set-up cell failed (then nothing is cached): any other
    error is printed, since CI runs the full notebook tests anyway."""
    fatal = 0
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        problems, seconds = execute(nb)
        problems += errors(nb)
        setup = setup_cell(nb)
        setup_ok = setup.get("outputs") is not None and not any(
            o.get("output_type") == "error" for o in setup.outputs
        ) and setup.get("execution_count") is not None
        say(f"{path.name}: {seconds:.1f} s" + ("" if setup_ok else ", SET-UP CELL FAILED"))
        for p in problems:
            say(f"  warning: {p}")
        fatal += not setup_ok
    if fatal:
        return 1
    warm_slot = POOL / "slot-0"
    for n in range(1, WARM_SLOTS):
        spare = POOL / f"slot-{n}"
        if not (spare / "target").exists():
            shutil.rmtree(spare, ignore_errors=True)
            shutil.copytree(warm_slot, spare, symlinks=True)  # keeps mtimes: cargo sees it fresh
            say(f"copied {warm_slot.relative_to(ROOT)} to {spare.relative_to(ROOT)}")
    return 0


# Where cargo puts each compiled dependency inside a slot: libraries for the
# target (evcxr passes --target, so under target/<triple>/debug/) and proc
# macros for the host (target/debug/).
LIBRARY_GLOBS = (
    # cargo before 1.100: all of them in one folder, .../debug/deps/
    "slot-*/target/**/deps/lib*",
    # cargo 1.100 and later ("new build-dir layout"): one folder per build unit,
    # .../debug/build/<package>/<hash>/out/ (rust-lang/cargo src/compiler/layout.rs)
    "slot-*/target/**/build/*/*/out/lib*",
)
# The cells' own code, not a dependency: evcxr builds each cell as libctx.so and
# renames it to libcode_<n>.so beside it (evcxr/src/module.rs), in deps/ before
# evcxr 0.22.0, so a new kernel rewrites libcode_1.so without recompiling anything.
CELL_CODE = re.compile(r"lib(ctx|code_\d+)[.-]")


def libraries():
    """Modification times of every compiled dependency in the build pool
    (libraries and proc macros, in either of cargo's layouts), not the cells'
    own code."""
    return {
        p: p.stat().st_mtime_ns
        for pattern in LIBRARY_GLOBS
        for p in POOL.glob(pattern)
        if p.suffix in (".rlib", ".so") and not CELL_CODE.match(p.name)
    }


def verify_slot(slot):
    """A fresh kernel that gets build directory `slot` (the lower ones are held
    locked meanwhile, as other running kernels would) runs the set-up cell."""
    before = libraries()
    held = []
    for n in range(slot):
        lock = open(POOL / f"slot-{n}.lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        held.append(lock)
    start_here = nbformat.read(NOTEBOOKS / "00-start-here.ipynb", as_version=4)
    nb = nbformat.v4.new_notebook(metadata=start_here.metadata)
    nb.cells = [setup_cell(start_here), nbformat.v4.new_code_cell('println!("{}", 6 * 7);')]
    start = time.monotonic()
    try:
        problems, _ = execute(nb)
    finally:
        for lock in held:
            lock.close()
    seconds = time.monotonic() - start
    problems += errors(nb)
    if "42" not in "".join(o.get("text", "") for o in nb.cells[1].get("outputs", [])):
        problems.append("the cell after the set-up cell did not print 42")
    after = libraries()
    rebuilt = sorted(str(p.relative_to(POOL)).split("/")[0] + ": " + p.name for p in after if before.get(p) != after[p])
    if rebuilt:
        problems.append(f"the set-up cell recompiled {len(rebuilt)} libraries, e.g. {', '.join(rebuilt[:4])}")
    config = POOL / f"slot-{slot}" / ".cargo" / "config.toml"
    if "offline = true" not in (config.read_text() if config.exists() else ""):
        problems.append(f"evcxr did not run cargo offline in slot-{slot} (no `offline = true` in {config.relative_to(ROOT)})")
    for p in problems:
        say(f"verify slot-{slot}: {p}")
    if not problems:
        say(f"verify slot-{slot}: a fresh kernel ran the set-up cell and one more in {seconds:.1f} s, offline, nothing recompiled")
    return len(problems)


def verify():
    if not libraries():
        say(f"nothing compiled in {POOL.relative_to(ROOT)}: run `warm` first")
        return 1
    failed = sum(verify_slot(slot) for slot in range(WARM_SLOTS))
    return 1 if failed else 0


if __name__ == "__main__":
    commands = {"warm": warm, "verify": verify}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: {sys.argv[0]} warm|verify")
    sys.exit(commands[sys.argv[1]]())
