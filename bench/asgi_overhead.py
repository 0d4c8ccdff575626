"""Hand-run benchmark: the showcase app's `GET /` vs a bare hello-world ASGI app.

Both are served by the same uvicorn setup the app workers use (httptools, uvloop,
lifespan off, no access log), each in its own process pinned to one CPU, and loaded by
`wrk` pinned to the other. Rounds alternate between the two servers so drift on a shared
machine hits both alike; the median ratio is reported. Target: ratio >= 0.95.

    python bench/asgi_overhead.py [--rounds 5] [--duration 5] [--connections 50]

Not a test: it needs `wrk` (apt-get install wrk) and a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def bare_app(scope: dict, receive: object, send: object) -> None:
    await send(  # type: ignore[operator]
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"11")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello world"})  # type: ignore[operator]


def serve(kind: str, port: int, cpu: int) -> None:
    """Child: serve `kind` ("bare" or "app") on `port` until killed."""
    sys.path.insert(0, ROOT)
    os.sched_setaffinity(0, {cpu})
    import uvicorn
    import uvloop

    async def main() -> None:
        app: object = bare_app
        if kind == "app":
            from runtime.loader import BootInfo, create_app

            app = create_app(BootInfo(base_dir=os.path.join(ROOT, "examples", "showcase"), env="prod"))
            await app.boot()  # type: ignore[attr-defined]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, http="httptools", loop="uvloop",
            lifespan="off", access_log=False, log_level="warning",
        )
        await uvicorn.Server(config).serve()

    uvloop.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


def wrk(port: int, duration: int, connections: int, cpu: int) -> float:
    cmd = ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{connections}", f"-d{duration}s",
           f"http://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--wrk-cpu", type=int, default=1)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install -y wrk")
    servers = {}
    try:
        for kind in ("bare", "app"):
            port = free_port()
            proc = subprocess.Popen(
                [sys.executable, __file__, "--serve", kind, str(port), str(args.server_cpu)]
            )
            servers[kind] = (port, proc)
            wait_port(port)
        results: dict[str, list[float]] = {"bare": [], "app": []}
        for kind, (port, _) in servers.items():  # warm-up
            wrk(port, 1, args.connections, args.wrk_cpu)
        for i in range(args.rounds):
            order = ("bare", "app") if i % 2 == 0 else ("app", "bare")
            for kind in order:
                rps = wrk(servers[kind][0], args.duration, args.connections, args.wrk_cpu)
                results[kind].append(rps)
            print(f"round {i + 1}: bare {results['bare'][-1]:.0f} req/s, "
                  f"app {results['app'][-1]:.0f} req/s, "
                  f"ratio {results['app'][-1] / results['bare'][-1]:.3f}", flush=True)
        ratios = [a / b for a, b in zip(results["app"], results["bare"])]
        print(f"median bare {statistics.median(results['bare']):.0f} req/s, "
              f"app {statistics.median(results['app']):.0f} req/s, "
              f"median ratio {statistics.median(ratios):.3f}")
    finally:
        for _, proc in servers.values():
            proc.terminate()
            proc.wait(5)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
