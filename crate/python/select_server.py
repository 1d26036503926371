"""Chapter 18's calculator server in CPython, written the way the book writes
its servers: one thread, one select.select() call over every socket, a
buffer per connection. (Our own code; the Rust side runs it, sends it load
and compares.)

Input (one JSON line on stdin): {}. It prints {"port": N} once it listens on
127.0.0.1, then serves until stdin closes (the Rust handle was dropped) or
the parent goes away.
"""
import json
import re
import select
import socket
import sys

import common

NUMBER = re.compile(r"[+-]?[0-9]+\Z")
MAX_LINE = 1024
LIMIT = 2 ** 63


def evaluate(line, product):
    if not line.strip():
        return "error: empty line: send integers separated by commas, e.g. 1,2"
    total = 1 if product else 0
    for place, field in enumerate(line.split(","), 1):
        text = field.strip()
        if not text:
            return f"error: field {place} is empty"
        if not NUMBER.match(text) or not -LIMIT <= int(text) < LIMIT:
            return f"error: field {place} ({text!r}) is not a whole number that fits in 64 bits"
        total = total * int(text) if product else total + int(text)
        if not -LIMIT <= total < LIMIT:
            return f"error: the {'product' if product else 'sum'} overflows 64 bits at field {place}"
    return str(total)


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.inbox = b""
        self.outbox = b""
        self.product = False
        self.closing = False

    def answer(self, line):
        line = line.rstrip("\r")
        if line.strip() == "quit":
            self.closing = True
            return "bye"
        if line.strip() in ("sum", "product"):
            self.product = line.strip() == "product"
            return "mode: " + line.strip()
        return evaluate(line, self.product)


def main():
    common.watch()
    sys.stdin.readline()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1024)
    server.setblocking(False)
    print(json.dumps({"port": server.getsockname()[1]}), flush=True)
    conns = {}
    while True:
        readers = [server, sys.stdin] + [c.sock for c in conns.values() if not c.closing]
        writers = [c.sock for c in conns.values() if c.outbox]
        readable, writable, _ = select.select(readers, writers, [], 1.0)
        for sock in readable:
            if sock is sys.stdin:
                if not sys.stdin.readline():  # the Rust side let go: stop
                    return
            elif sock is server:
                try:
                    client, _ = server.accept()
                except BlockingIOError:
                    continue
                client.setblocking(False)
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conns[client.fileno()] = Connection(client)
            else:
                conn = conns[sock.fileno()]
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    del conns[sock.fileno()]
                    sock.close()
                    continue
                conn.inbox += data
                while b"\n" in conn.inbox and not conn.closing:
                    line, conn.inbox = conn.inbox.split(b"\n", 1)
                    try:
                        reply = conn.answer(line.decode()) if len(line) <= MAX_LINE else "error: line too long"
                    except UnicodeDecodeError:
                        reply = "error: a line that is not UTF-8 text"
                    conn.outbox += reply.encode() + b"\n"
                if len(conn.inbox) > MAX_LINE:
                    conn.outbox += b"error: line too long\n"
                    conn.closing = True
        for sock in writable:
            conn = conns.get(sock.fileno())
            if conn is None:
                continue
            try:
                sent = sock.send(conn.outbox)
                conn.outbox = conn.outbox[sent:]
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                conn.outbox = b""
                conn.closing = True
        for fd in [fd for fd, c in conns.items() if c.closing and not c.outbox]:
            conns.pop(fd).sock.close()


if __name__ == "__main__":
    main()
