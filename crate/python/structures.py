"""Chapter 16 in CPython: the book's counter without a lock (read the
value, pause 1 ms, write it back + 1) on several threads, the same counter
under a lock, and a shared "network" dict whose reader reads the primary's
name, pauses, and looks the node up while a writer fails over (removes the
primary node and names another). The pauses are `time.sleep`, as in the
book: which thread runs when is up to the operating system."""
import threading
import time

from common import finish, start


class Counter:
    def __init__(self):
        self.value = 0

    def increment(self):
        value = self.value
        time.sleep(0.001)  # another thread runs here
        self.value = value + 1


class LockedCounter(Counter):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def increment(self):
        with self.lock:
            super().increment()


def count(counter, threads, per_thread):
    def work():
        for _ in range(per_thread):
            counter.increment()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    began = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return counter.value, time.perf_counter() - began


def network():
    net = {"primary": "A", "nodes": {"A": "10.0.0.1", "B": "10.0.0.2"}}
    seen = {}

    def reader():
        primary = net["primary"]
        time.sleep(0.05)  # the writer runs here
        try:
            seen["read"] = f"node {primary} at {net['nodes'][primary]}"
        except KeyError as e:
            seen["read"] = f"KeyError: {e.args[0]!r}"

    def writer():
        time.sleep(0.01)
        del net["nodes"][net["primary"]]
        net["primary"] = "B"

    workers = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return seen["read"]


if __name__ == "__main__":
    job = start()
    threads, per_thread, runs = job["threads"], job["per_thread"], job["runs"]
    unlocked = [count(Counter(), threads, per_thread) for _ in range(runs)]
    locked = [count(LockedCounter(), threads, per_thread) for _ in range(runs)]
    finish({
        "unlocked": [c for c, _ in unlocked],
        "unlocked_seconds": [s for _, s in unlocked],
        "locked": [c for c, _ in locked],
        "locked_seconds": [s for _, s in locked],
        "network": network(),
    })
