"""Executes every notebook in notebooks/ through the real evcxr kernel.

One fresh kernel per notebook, notebooks one after another. For each exercise,
the cells right after its check get a copy of the reference solution (from
crate/src/solutions/, named by the starter cell's metadata) and the check
again, so a single run proves both that the shipped starter says "not solved
yet" and that the solution passes.

A notebook fails on:
- an error output or a cell over its time limit (nbclient);
- anything on stderr, or "panicked at" anywhere: evcxr reports a caught panic
  and a top-level `?` error as success, so nbclient alone would not notice;
  a cell may allow expected stderr with metadata concurrency_lab.allow_stderr
  (a regular expression the whole stderr text must match);
- no chart (an <img> with an SVG data URI), or a chart over 200 KB;
- a shipped check whose verdict is not "not_solved", or a check after the
  reference solution whose verdict is not "passed" (read from the verdict's
  JSON output, application/vnd.concurrency-lab.verdict+json, not from its
  wording);
- a progress table that does not count this notebook's exercises as done
  after their reference solutions passed.

Course progress goes to target/notebooks/progress.json (emptied at the start
of a run), never to the learner's own progress.json.

Executed copies go to target/notebooks/. Usage:
    python tests/notebooks.py [--bench | --twice] [NOTEBOOK ...]
--bench runs the shipped notebooks (no solutions) and prints timings instead.
--twice runs every cell twice in the one kernel (the whole notebook, then the
whole notebook again), as a learner who re-runs everything does; every check
above applies to both passes. Not part of the test command: it doubles the time.
"""

import argparse
import copy
import json
import os
import re
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = ROOT / "crate" / "src" / "solutions"
OUT = ROOT / "target" / "notebooks"
DEFAULT_TIMEOUT = 120  # seconds per cell unless its metadata says otherwise
CHART_LIMIT = 200_000  # bytes per chart in the saved notebook
CHART_MARK = "data:image/svg+xml;base64,"
VERDICT_MIME = "application/vnd.concurrency-lab.verdict+json"
PROGRESS = OUT / "progress.json"


def lab(cell):
    """Our per-cell settings: metadata.concurrency_lab."""
    return cell.get("metadata", {}).get("concurrency_lab", {})


def with_solutions(nb):
    """Inserts, after each exercise's check cell, the reference solution and
    the check again. Returns the new notebook and a list of problems."""
    nb = copy.deepcopy(nb)
    problems = []
    cells = []
    pending = None  # (exercise name, solution text) waiting for its check cell
    for cell in nb.cells:
        cells.append(cell)
        if cell.cell_type != "code":
            continue
        if pending is not None:
            name, solution = pending
            cell.metadata.setdefault("concurrency_lab", {})["check"] = name
            sol = nbformat.v4.new_code_cell(solution)
            sol.metadata["concurrency_lab"] = {"solution_of": name}
            again = nbformat.v4.new_code_cell(cell.source)
            again.metadata["concurrency_lab"] = {"check_with_solution": name}
            cells += [sol, again]
            pending = None
        name = lab(cell).get("exercise")
        if name:
            path = SOLUTIONS / f"{name}.rs"
            if not path.exists():
                problems.append(f"exercise {name}: no reference solution at {path.relative_to(ROOT)}")
            else:
                pending = (name, path.read_text())
    if pending is not None:
        problems.append(f"exercise {pending[0]}: the starter cell has no check cell after it")
    nb.cells = cells
    return nb, problems


def text_of(output):
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "\n".join(str(v) for k, v in data.items() if k.startswith("text/"))


def cell_label(nb, i):
    first = nb.cells[i].source.strip().splitlines()
    return f"cell {i} ({first[0][:60] if first else 'empty'})"


def inspect(nb, nb_stem=None):
    """Problems found in an executed notebook's outputs."""
    problems = []
    charts = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = cell_label(nb, i)
        stderr = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == "stderr")
        alltext = "".join(text_of(o) for o in cell.outputs)
        for o in cell.outputs:
            if o.get("output_type") == "error":
                problems.append(f"{where}: error {o.get('ename')}: {o.get('evalue', '')[:300]}")
            html = o.get("data", {}).get("text/html", "")
            if CHART_MARK in html:
                charts += 1
                if len(html) > CHART_LIMIT:
                    problems.append(f"{where}: chart is {len(html)} bytes (limit {CHART_LIMIT})")
        if any(o.get("data", {}).get("text/plain") == "()" for o in cell.outputs):
            problems.append(f"{where}: shows `()`: end the cell's last statement with `;`")
        if "panicked at" in alltext + stderr:
            problems.append(f"{where}: a panic: {(stderr or alltext).strip()[:400]}")
        elif stderr.strip():
            allowed = lab(cell).get("allow_stderr")
            if not (allowed and re.fullmatch(allowed, stderr.strip(), re.S)):
                problems.append(f"{where}: unexpected stderr: {stderr.strip()[:400]}")
        verdicts = [o["data"][VERDICT_MIME] for o in cell.outputs if VERDICT_MIME in o.get("data", {})]
        for key, want in (("check", "not_solved"), ("check_with_solution", "passed")):
            name = lab(cell).get(key)
            if not name:
                continue
            got = [v for v in verdicts if isinstance(v, dict) and v.get("exercise") == name]
            if not got:
                problems.append(f"{where}: the check of {name} sent no verdict (is it check!({name}, ...)?): {alltext.strip()[:300]}")
            elif got[-1].get("status") != want:
                what = "the shipped check" if key == "check" else "with the reference solution, the check"
                problems.append(f"{where}: {what} of {name} should be '{want}', it was '{got[-1].get('status')}': {got[-1].get('message', '')[:400]}")
        if "progress()" in cell.source and nb_stem and any(lab(c).get("check_with_solution") for c in nb.cells):
            line = next((l for l in alltext.splitlines() if l.strip().startswith(nb_stem + " ")), None)
            counts = re.search(r"(\d+) / (\d+)", line or "")
            if not counts or counts.group(1) != counts.group(2):
                problems.append(f"{where}: progress should count every exercise of {nb_stem} as done after the solutions passed: {line!r}")
    if charts == 0:
        problems.append("no chart in the notebook (every chapter shows at least one)")
    return problems


def execute(nb):
    """Runs nb in a fresh kernel; returns (problems, seconds)."""
    client = NotebookClient(
        nb,
        kernel_name="rust",
        timeout=DEFAULT_TIMEOUT,
        timeout_func=lambda cell: lab(cell).get("timeout", DEFAULT_TIMEOUT),
        startup_timeout=120,
        allow_errors=True,
        record_timing=True,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.monotonic()
    problems = []
    try:
        client.execute()
    except CellTimeoutError as e:
        problems.append(f"a cell ran over its time limit: {str(e).strip().splitlines()[0][:300]}")
    except DeadKernelError as e:
        problems.append(f"the kernel died: {e}")
    except CellExecutionError as e:  # only without allow_errors; kept for safety
        problems.append(str(e)[:500])
    return problems, time.monotonic() - start


def when(cell, key):
    stamp = cell.get("metadata", {}).get("execution", {}).get(key)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else None


def bench(path):
    """Times the shipped notebook: first chart, Run-All, lesson cells vs trivial cells."""
    nb = nbformat.read(path, as_version=4)
    trivial = [nbformat.v4.new_code_cell("1 + 1") for _ in range(5)]
    for c in trivial:
        c.metadata["concurrency_lab"] = {"bench_trivial": True}
    lesson_count = len(nb.cells)
    nb.cells += trivial
    wall_start = time.time()
    problems, seconds = execute(nb)
    durations, first_chart = [], None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        a, b = when(cell, "iopub.execute_input"), when(cell, "shell.execute_reply")
        if a is None or b is None:
            continue
        if first_chart is None and any(CHART_MARK in o.get("data", {}).get("text/html", "") for o in cell.outputs):
            first_chart = b - wall_start
        durations.append((i < lesson_count, lab(cell).get("timeout") is not None, b - a))
    triv = [d for lesson, _, d in durations if not lesson]
    lesson = [d for is_lesson, is_setup, d in durations if is_lesson and not is_setup]
    run_all = seconds - sum(triv)
    return {
        "notebook": path.name,
        "first_chart_s": first_chart,
        "run_all_s": run_all,
        "lesson_cell_median_s": statistics.median(lesson) if lesson else None,
        "trivial_cell_median_s": statistics.median(triv) if triv else None,
        "problems": problems,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", action="store_true", help="print timings of the shipped notebooks instead of testing")
    parser.add_argument("--twice", action="store_true", help="run each notebook twice in one kernel")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("*.ipynb"))
    if not paths:
        print("no notebooks found in notebooks/")
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    # Kernels inherit this: the reference solutions' passes land here.
    os.environ["CONCURRENCY_LAB_PROGRESS"] = str(PROGRESS)
    PROGRESS.unlink(missing_ok=True)

    if args.bench:
        rows = []
        for path in paths:
            r = bench(path)
            rows.append(r)
            ratio = (r["lesson_cell_median_s"] or 0) / (r["trivial_cell_median_s"] or 1)
            fc = f"{r['first_chart_s']:.1f} s" if r["first_chart_s"] is not None else "none"
            print(
                f"{r['notebook']:<28} first chart {fc:>8}   Run-All {r['run_all_s']:6.1f} s   "
                f"median lesson cell {r['lesson_cell_median_s'] or 0:.2f} s vs trivial {r['trivial_cell_median_s'] or 0:.2f} s ({ratio:.2f}x)"
                + (f"   PROBLEMS: {r['problems']}" if r["problems"] else ""),
                flush=True,
            )
        (OUT / "bench.json").write_text(json.dumps(rows, indent=2))
        return 0

    failed = 0
    for path in paths:
        print(f"--- {path.name}", flush=True)
        shipped = nbformat.read(path, as_version=4)
        if args.twice:
            again = copy.deepcopy(shipped.cells)
            for i, cell in enumerate(again):
                cell["id"] = f"again-{i}"
            shipped.cells += again
        nb, problems = with_solutions(shipped)
        exec_problems, seconds = execute(nb)
        problems += exec_problems + inspect(nb, path.stem)
        nbformat.write(nb, OUT / path.name)
        if problems:
            failed += 1
            print(f"FAIL {path.name} ({seconds:.1f} s); executed copy: {(OUT / path.name).relative_to(ROOT)}")
            for p in problems:
                print(f"  - {p}")
        else:
            exercises = sum(1 for c in nb.cells if lab(c).get("check_with_solution"))
            print(f"ok   {path.name} ({seconds:.1f} s, {exercises} exercises checked)", flush=True)
    print(f"notebooks: {len(paths) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
