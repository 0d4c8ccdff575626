"""The floor: a master that binds one socket and forks N plain uvicorn workers, nothing
else (no agent, no IPC, no loader). `python bench/bare_fork.py PORT WORKERS`."""

from __future__ import annotations

import os
import signal
import socket
import sys

import uvicorn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hello_asgi import app


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    pids = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            config = uvicorn.Config(
                app, http="httptools", loop="uvloop", lifespan="off", access_log=False
            )
            uvicorn.Server(config).run(sockets=[sock])
            os._exit(0)
        pids.append(pid)

    def stop(*_: object) -> None:
        for pid in pids:
            os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    for _ in pids:
        os.wait()


if __name__ == "__main__":
    main()
