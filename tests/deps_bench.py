"""How much each topic feature of the crate costs a notebook, measured.

    .venv/bin/python tests/deps_bench.py [--pool DIR] [CONFIG ...]

Runs a small synthetic notebook (the set-up cell with the config's features,
a first `let`, five trivial cells, one chart) through the real kernel, one
fresh kernel per step, in ONE build slot (DIR, default a new temporary
directory: so the first step is a cold build on this machine), in this order:
core, core again, then for each config: cold (its first build in the slot),
warm, and core right after it (does switching topics rebuild anything?).
Prints, per step: the set-up cell (the `:dep`), the first `let`, the median
trivial cell, and the time from kernel start to the chart.

CONFIG is a comma-separated feature list (`web`, `image,rcu`) or `all`;
default: async web image server rcu schedules testing all; `none` runs core only.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebooks import execute  # noqa: E402  (the harness, not a package)

ALL = ["async", "web", "image", "server", "rcu", "schedules", "testing"]


def notebook(features):
    feats = "" if not features else ", features = [" + ", ".join(f'"{f}"' for f in features) + "]"
    cells = [
        nbformat.v4.new_code_cell(f':dep concurrency_lab = {{ path = "../crate"{feats} }}\nuse concurrency_lab::prelude::*;'),
        nbformat.v4.new_code_cell("let x = 1;"),
    ]
    cells[0].metadata["concurrency_lab"] = {"timeout": 1200}
    cells += [nbformat.v4.new_code_cell("1 + 1") for _ in range(5)]
    cells.append(nbformat.v4.new_code_cell('chart::lines("t", "x", "y", &[Series::line("a", vec![(0.0, 1.0), (1.0, 2.0)])], false)'))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "rust", "display_name": "Rust", "language": "rust"}
    return nb


def stamp(cell, key):
    s = cell.metadata.get("execution", {}).get(key)
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() if s else None


def run(label, features):
    nb = notebook(features)
    start = time.time()
    problems, _ = execute(nb)
    d = [stamp(c, "shell.execute_reply") - stamp(c, "iopub.execute_input") for c in nb.cells]
    chart = stamp(nb.cells[-1], "shell.execute_reply") - start
    print(
        f"{label:<28} :dep {d[0]:6.1f} s   first let {d[1]:4.2f} s   trivial cell {statistics.median(d[2:7]):4.2f} s   "
        f"chart after {chart:6.1f} s" + (f"   PROBLEMS {problems}" if problems else ""),
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", type=Path)
    parser.add_argument("configs", nargs="*")
    args = parser.parse_args()
    pool = args.pool or Path(tempfile.mkdtemp(prefix="lab-deps-bench-"))
    os.environ["CONCURRENCY_LAB_EVCXR_POOL"] = str(pool)
    print(f"build slot pool: {pool}")
    configs = [c for c in (args.configs or ALL + ["all"]) if c != "none"]
    run("core (cold)", [])
    run("core (warm)", [])
    for c in configs:
        feats = ALL if c == "all" else c.split(",")
        run(f"{c} (first build)", feats)
        run(f"{c} (warm)", feats)
        run(f"core after {c}", [])


if __name__ == "__main__":
    main()
