"""A threaded TCP server on 127.0.0.1 for the benchmark scripts."""

import socket
import threading


def serve_forever(handle, backlog):
    """Listens on 127.0.0.1:0, prints the port on stdout, and runs
    handle(conn) on a thread per connection, forever."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    print(s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()
