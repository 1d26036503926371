"""Trial-division primality in CPython, sequentially and in a pool of
worker processes: the same algorithm as the crate's `primes::is_prime`."""
import time
from concurrent.futures import ProcessPoolExecutor

from common import finish, start


def is_prime(n):
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    d = 3
    while d * d <= n:
        if n % d == 0:
            return False
        d += 2
    return True


def find(numbers, workers):
    """The primes among `numbers`, on `workers` processes (0: no pool at
    all, in this process). Starting the pool is part of the time, as it is
    for the book's measurements."""
    if workers == 0:
        return [n for n in numbers if is_prime(n)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        flags = pool.map(is_prime, numbers, chunksize=max(1, len(numbers) // (4 * workers)))
        return [n for n, p in zip(numbers, flags) if p]


if __name__ == "__main__":
    job = start()
    numbers = job["numbers"]
    runs = []
    found = None
    for workers in job["workers"]:
        samples = []
        for _ in range(job.get("samples", 1)):
            t0 = time.perf_counter()
            found = find(numbers, workers)
            samples.append(time.perf_counter() - t0)
        runs.append({"workers": workers, "seconds": samples})
    finish({"runs": runs, "found": found})
