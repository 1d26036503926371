"""CPython's reference counts, read with sys.getrefcount: one object, and
the count after each new name for it (getrefcount's own argument adds one
while it looks)."""
import sys

from common import finish, start

if __name__ == "__main__":
    start()
    counts = []
    data = [1, 2, 3]  # a fresh list: only the name `data` refers to it
    counts.append(sys.getrefcount(data) - 1)
    more = data
    counts.append(sys.getrefcount(data) - 1)
    held = [data]
    counts.append(sys.getrefcount(data) - 1)
    del more, held
    counts.append(sys.getrefcount(data) - 1)
    finish({"counts": counts})
