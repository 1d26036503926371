"""Shared by the course's CPython experiments (our own code, run by the Rust
crate's `cpython` module): read the input, watch the parent, print the result.

The Rust side writes one JSON object to stdin and reads one JSON object from
the last line of stdout. If the Rust process that started us goes away (a
notebook cell interrupted, a kernel restarted), a watchdog thread ends this
process and its whole process group, so no Python process outlives the cell.
"""
import json
import os
import signal
import sys
import threading
import time


def _watch_parent(parent):
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            try:
                os.killpg(os.getpgrp(), signal.SIGKILL)
            finally:
                os._exit(1)


def watch():
    """Starts the watchdog (for programs that keep running, like a server)."""
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()


def start():
    """Starts the watchdog and returns the input object."""
    watch()
    return json.loads(sys.stdin.read() or "{}")


def finish(result):
    """Sends the result back as the last line of stdout."""
    result["python"] = sys.version.split()[0]
    gil = getattr(sys, "_is_gil_enabled", None)
    result["gil"] = True if gil is None else bool(gil())
    print(json.dumps(result), flush=True)
