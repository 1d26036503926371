"""Counting down in CPython, the chapter 15 experiment: one thread, two
threads sharing the work, and two worker processes sharing it. Pure CPU work
in Python code, so under the GIL only one thread runs at a time."""
import multiprocessing
import sys
import threading
import time

from common import finish, start


def count_down(n):
    while n > 0:
        n -= 1


def on_threads(n, threads):
    """`threads` threads, each counting down its share of `n`."""
    workers = [threading.Thread(target=count_down, args=(n // threads,)) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def on_processes(n, processes):
    """`processes` worker processes, each counting down its share of `n`.
    Starting them is part of the time, as it is for the book's measurement."""
    workers = [multiprocessing.Process(target=count_down, args=(n // processes,)) for _ in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise RuntimeError(f"a worker process ended with exit code {w.exitcode}")


if __name__ == "__main__":
    job = start()
    n = int(job["n"])
    samples = max(1, int(job.get("samples", 1)))
    configurations = {
        "1 thread": lambda: count_down(n),
        "2 threads": lambda: on_threads(n, 2),
        "2 processes": lambda: on_processes(n, 2),
    }
    names = job.get("configurations", list(configurations))
    seconds = {name: [] for name in names}
    # Round by round, one sample of each configuration per round, so that a
    # busy spell on the machine falls on all of them alike.
    for _ in range(samples):
        for name in names:
            t0 = time.perf_counter()
            configurations[name]()
            seconds[name].append(time.perf_counter() - t0)
    runs = [{"configuration": name, "seconds": seconds[name]} for name in names]
    finish({"n": n, "runs": runs, "switch_interval": sys.getswitchinterval()})
