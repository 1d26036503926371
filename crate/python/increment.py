"""The book's `n += 1` on many threads: each thread adds 1 to a global
counter `per_thread` times; the final counts of several runs come back.
Whether updates get lost depends on where the interpreter may switch
threads: between the read and the write of `n += 1` on old CPython, only
between whole statements of a loop since 3.10."""
import threading

from common import finish, start

n = 0


def add(times):
    global n
    for _ in range(times):
        n += 1


if __name__ == "__main__":
    job = start()
    threads, per_thread, runs = job["threads"], job["per_thread"], job["runs"]
    finals = []
    for _ in range(runs):
        n = 0
        workers = [threading.Thread(target=add, args=(per_thread,)) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        finals.append(n)
    finish({"finals": finals})
