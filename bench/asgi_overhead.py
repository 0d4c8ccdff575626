"""Hand-run benchmark: the showcase app's `GET /` vs a bare hello-world ASGI app.

Both are served by uvicorn with httptools, uvloop, lifespan off, no access log and its
proxy-headers wrapper (on by default in app workers as in plain uvicorn): the app as app
workers serve it, the bare app as plain uvicorn does. Each runs in its own process pinned
to one CPU, loaded by `wrk` pinned to the other. Rounds alternate between the two servers
so drift on a shared machine hits both alike; the median ratio is reported. Target: ratio
>= 0.95.

    python bench/asgi_overhead.py [--rounds 5] [--duration 5] [--connections 50]
                                  [--concurrent | --cpu | --inprocess]

The app is served as the Application instance (what app workers do); set
BENCH_SERVE=function to serve `app.asgi`, the same entry as a plain function.

With `--concurrent`, both servers share ONE pinned CPU and are loaded at the same time
(two wrk processes on the other CPU): the scheduler splits the CPU evenly, so the ratio of
their throughputs is the ratio of their per-request CPU costs, and noise from other work
on the machine hits both alike. Use it on a busy machine.

Not a test: it needs `wrk` (apt-get install wrk) and, for the plain mode, a quiet machine.
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
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"11"),
            ],
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

            app = create_app(
                BootInfo(base_dir=os.path.join(ROOT, "examples", "showcase"), env="prod")
            )
            await app.boot()  # type: ignore[attr-defined]
            if os.environ.get("BENCH_SERVE") == "function":
                app = app.asgi  # type: ignore[attr-defined]  # the plain-function entry
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            http="httptools",
            loop="uvloop",
            lifespan="off",
            access_log=False,
            log_level="warning",
            proxy_headers=True,  # the default of app workers and of plain uvicorn alike
        )
        await uvicorn.Server(config).serve()

    uvloop.run(main())


def inprocess(repeats: int = 40, number: int = 10000) -> None:
    """Hot-path cost without a server: drive both ASGI callables' coroutines directly.

    Best-of-`repeats` timing of `number` requests each, interleaved; the difference is
    what the app layer adds per request (Context, routing, handler, rendering).
    """
    import asyncio
    import time

    sys.path.insert(0, ROOT)
    from runtime.loader import BootInfo, create_app

    app = create_app(BootInfo(base_dir=os.path.join(ROOT, "examples", "showcase"), env="prod"))
    asyncio.run(app.boot())

    async def send(message: dict) -> None:
        return None

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    def one(target: object) -> None:
        scope = {  # fresh strings each time, as a server builds them
            "type": "http",
            "method": b"GET".decode(),
            "path": b"/".decode(),
            "query_string": b"",
            "headers": [(b"host", b"x")],
            "client": ("127.0.0.1", 1),
        }
        coro = target(scope, receive, send)  # type: ignore[operator]
        try:  # noqa: SIM105 - a `with` block would add its own cost to the timing
            coro.send(None)
        except StopIteration:
            pass

    best = {"bare": float("inf"), "app": float("inf")}
    for _ in range(repeats):
        for kind, target in (("bare", bare_app), ("app", app)):
            start = time.perf_counter()
            for _ in range(number):
                one(target)
            best[kind] = min(best[kind], (time.perf_counter() - start) / number * 1e9)
    print(
        f"in-process: bare {best['bare']:.0f} ns, app {best['app']:.0f} ns per request, "
        f"app layer adds {best['app'] - best['bare']:.0f} ns"
    )


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


def _wrk_cmd(port: int, duration: int, connections: int, cpu: int) -> list[str]:
    return [
        "taskset",
        "-c",
        str(cpu),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        f"http://127.0.0.1:{port}/",
    ]


def _rps(out: str) -> float:
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(match.group(1))


def _requests(out: str) -> int:
    match = re.search(r"(\d+) requests in", out)
    if not match:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return int(match.group(1))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (no psutil needed)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_request(pid: int, port: int, duration: int, connections: int, cpu: int) -> float:
    """Server CPU microseconds per request: robust to other load on the machine."""
    before = cpu_seconds(pid)
    out = subprocess.run(
        _wrk_cmd(port, duration, connections, cpu), capture_output=True, text=True, check=True
    ).stdout
    return (cpu_seconds(pid) - before) / _requests(out) * 1e6


def wrk(port: int, duration: int, connections: int, cpu: int) -> float:
    cmd = _wrk_cmd(port, duration, connections, cpu)
    return _rps(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def wrk_both(
    servers: dict[str, tuple[int, int]], duration: int, connections: int, cpu: int
) -> dict[str, tuple[float, float]]:
    """Load every `kind -> (port, pid)` at once; returns (req/s, server CPU us/request)."""
    before = {kind: cpu_seconds(pid) for kind, (_, pid) in servers.items()}
    procs = {
        kind: subprocess.Popen(
            _wrk_cmd(port, duration, connections, cpu), stdout=subprocess.PIPE, text=True
        )
        for kind, (port, _) in servers.items()
    }
    outs = {kind: proc.communicate()[0] for kind, proc in procs.items()}
    return {
        kind: (
            _rps(out),
            (cpu_seconds(servers[kind][1]) - before[kind]) / _requests(out) * 1e6,
        )
        for kind, out in outs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--wrk-cpu", type=int, default=1)
    parser.add_argument(
        "--inprocess", action="store_true", help="time the hot path in-process (no server, no wrk)"
    )
    parser.add_argument(
        "--cpu", action="store_true", help="compare server CPU time per request instead of req/s"
    )
    parser.add_argument(
        "--concurrent",
        action="store_true",
        help="load both servers at once on one shared CPU (busy machines)",
    )
    args = parser.parse_args()
    if args.inprocess:
        inprocess()
        return
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
        costs: dict[str, list[float]] = {"bare": [], "app": []}
        for port, _ in servers.values():  # warm-up
            wrk(port, 1, args.connections, args.wrk_cpu)
        for i in range(args.rounds):
            if args.cpu:
                for kind in ("bare", "app") if i % 2 == 0 else ("app", "bare"):
                    port, proc = servers[kind]
                    cost = cpu_per_request(
                        proc.pid, port, args.duration, args.connections, args.wrk_cpu
                    )
                    results[kind].append(1e6 / cost)  # req/s one CPU would sustain
            elif args.concurrent:
                pids = {kind: (port, proc.pid) for kind, (port, proc) in servers.items()}
                measured = wrk_both(pids, args.duration, args.connections, args.wrk_cpu)
                for kind, (rps, cost) in measured.items():
                    results[kind].append(rps)
                    costs[kind].append(cost)
            else:
                for kind in ("bare", "app") if i % 2 == 0 else ("app", "bare"):
                    rps = wrk(servers[kind][0], args.duration, args.connections, args.wrk_cpu)
                    results[kind].append(rps)
            print(
                f"round {i + 1}: bare {results['bare'][-1]:.0f} req/s, "
                f"app {results['app'][-1]:.0f} req/s, "
                f"ratio {results['app'][-1] / results['bare'][-1]:.3f}",
                flush=True,
            )
        if costs["app"]:
            pairs = zip(costs["bare"], costs["app"], strict=True)
            print(
                f"server CPU per request: bare {statistics.median(costs['bare']):.1f} us, "
                f"app {statistics.median(costs['app']):.1f} us, cost ratio "
                f"{statistics.median(bare / app for bare, app in pairs):.3f}"
            )
        ratios = [a / b for a, b in zip(results["app"], results["bare"], strict=True)]
        print(
            f"median bare {statistics.median(results['bare']):.0f} req/s, "
            f"app {statistics.median(results['app']):.0f} req/s, "
            f"median ratio {statistics.median(ratios):.3f}"
        )
    finally:
        for _, proc in servers.values():
            proc.terminate()
            proc.wait(5)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
