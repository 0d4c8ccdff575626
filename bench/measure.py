"""What the benchmark measures, independent of who serves: HTTP probes, process trees,
wrk runs, and the worker-SIGKILL check. Load goes to 127.0.0.1 only, bounded in time."""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str = "/", timeout: float = 1.0) -> tuple[int, bytes] | None:
    """One request on a fresh connection; None when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except OSError:
        return None
    finally:
        conn.close()


def wait_answering(port: int, started: float, timeout: float = 60) -> float:
    """Milliseconds from `started` (perf_counter) until GET / answers 200."""
    while time.perf_counter() - started < timeout:
        got = get(port, timeout=0.5)
        if got and got[0] == 200:
            return (time.perf_counter() - started) * 1000
        time.sleep(0.002)
    raise RuntimeError(f"nothing answered on port {port} within {timeout}s")


def tree(root_pids: Iterable[int]) -> list[psutil.Process]:
    """The processes and all their descendants."""
    found: dict[int, psutil.Process] = {}
    for pid in root_pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                found.setdefault(proc.pid, proc)
        except psutil.NoSuchProcess:
            continue
    return list(found.values())


def tree_rss_mib(root_pids: Iterable[int]) -> float:
    total = 0
    for proc in tree(root_pids):
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def tree_cpu_seconds(root_pids: Iterable[int]) -> float:
    total = 0.0
    for proc in tree(root_pids):
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(procs: list[psutil.Process], timeout: float = 60) -> float:
    """perf_counter time at which the last of `procs` was gone."""
    deadline = time.perf_counter() + timeout
    while any(alive(p) for p in procs):
        if time.perf_counter() > deadline:
            raise RuntimeError(f"still alive after {timeout}s: {[p.pid for p in procs]}")
        time.sleep(0.001)
    return time.perf_counter()


def wrk(port: int, duration: int, threads: int = 2, connections: int = 64) -> dict[str, float]:
    """`wrk --latency`: req/s, p99 latency (ms), completed requests, errors."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
            f"http://127.0.0.1:{port}/"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    done = re.search(r"(\d+) requests in", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", out, re.MULTILINE)
    if not rps or not done or not p99:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    failed = int(errors.group(1)) if errors else 0
    if socket_errors:
        failed += sum(int(g) for g in socket_errors.groups())
    return {
        "rps": float(rps.group(1)),
        "p99_ms": float(p99.group(1)) * scale,
        "done": float(done.group(1)),
        "failed": float(failed),
    }


class PacedClient:
    """New connection per request, ~500/s at most: counts what a user would see fail."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sent += 1
            got = get(self.port, "/", timeout=5)
            if got is None or got[0] != 200:
                self.failed += 1
            time.sleep(0.002)

    def __enter__(self) -> PacedClient:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def kill_check(
    port: int, workers: Callable[[], list[int]], kills: int = 3, timeout: float = 30
) -> dict[str, float]:
    """SIGKILL one worker `kills` times under a paced client: requests sent and lost, and
    ms from each kill until a worker that was not there before answers `/pid`."""
    replace_ms: list[float] = []
    with PacedClient(port) as client:
        for _ in range(kills):
            time.sleep(0.5)
            before = workers()
            if not before:
                raise RuntimeError("no worker to kill")
            psutil.Process(before[0]).kill()
            killed = time.perf_counter()
            deadline = killed + timeout
            while time.perf_counter() < deadline:
                got = get(port, "/pid", timeout=1)
                answered = got is not None and got[0] == 200 and got[1].strip().isdigit()
                if got is not None and answered and int(got[1]) not in before:
                    replace_ms.append((time.perf_counter() - killed) * 1000)
                    break
                time.sleep(0.001)
            else:
                replace_ms.append(float("nan"))
    return {
        "sent": float(client.sent),
        "lost": float(client.failed),
        "replace_ms": sorted(replace_ms)[len(replace_ms) // 2],
    }
