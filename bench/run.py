"""Side-by-side benchmark: eggscripts (showcase, 2 workers) vs raw `uvicorn --workers 2`
vs a bare fork+uvicorn master, all serving hello world on this machine, in one run.

    python bench/run.py [--rounds 3] [--duration 5] [--workers 2]

Reports medians over the rounds: start -> answering, req/s (wrk, ratio to raw uvicorn),
idle RSS of the whole process tree, `eggscripts stop` latency after the cluster is gone,
and requests lost / replacement latency when a worker is SIGKILLed. Needs `wrk`
(apt-get install wrk).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SHOWCASE = ROOT / "examples" / "showcase"
BIN = Path(sys.executable).parent
EGGSCRIPTS = str(BIN / "eggscripts")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str = "/", timeout: float = 1.0) -> tuple[int, bytes] | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except OSError:
        return None
    finally:
        conn.close()


def wait_answering(port: int, started: float, timeout: float = 30) -> float:
    """Milliseconds from `started` until GET / answers 200."""
    while time.perf_counter() - started < timeout:
        got = get(port, timeout=0.5)
        if got and got[0] == 200:
            return (time.perf_counter() - started) * 1000
        time.sleep(0.002)
    raise RuntimeError(f"nothing answered on port {port} within {timeout}s")


def tree_rss_mib(root_pids: list[int]) -> float:
    total, seen = 0, set()
    for pid in root_pids:
        try:
            root = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        for proc in [root, *root.children(recursive=True)]:
            if proc.pid not in seen:
                seen.add(proc.pid)
                total += proc.memory_info().rss
    return total / 2**20


def _wrk_argv(port: int, duration: int, threads: int, connections: int) -> list[str]:
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
            f"http://127.0.0.1:{port}/"]  # fmt: skip


def _requests_per_second(out: str) -> float:
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    return float(match.group(1))


def wrk(port: int, duration: int) -> tuple[float, int]:
    """(requests per second, requests completed)."""
    argv = _wrk_argv(port, duration, 2, 64)
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    done = re.search(r"(\d+) requests in", out)
    return _requests_per_second(out), int(done.group(1)) if done else 0


def tree_cpu_seconds(root_pids: list[int]) -> float:
    """User + system CPU time used so far by these processes and their descendants.

    CPU per request is what a server costs independently of what else runs on the
    machine, so its ratio is the steadiest figure this shared 2-core box can give."""
    total = 0.0
    for pid in root_pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
    return total


def wrk_together(ports: list[int], duration: int) -> list[float]:
    """Load several servers at the same time, one wrk each.

    They then share the same CPUs under the same outside noise, so the ratio of their
    throughputs is the inverse ratio of their CPU cost per request: a much steadier
    comparison on a shared machine than runs one after the other."""
    procs = [
        subprocess.Popen(_wrk_argv(p, duration, 1, 32), stdout=subprocess.PIPE, text=True)
        for p in ports
    ]
    return [_requests_per_second(proc.communicate()[0]) for proc in procs]


class Contender:
    name = ""

    def start(self) -> float:
        raise NotImplementedError

    def pids(self) -> list[int]:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Eggscripts(Contender):
    name = "eggscripts"

    def __init__(self, workers: int, home: str, app: Path = SHOWCASE) -> None:
        self.app = app
        self.workers = workers
        self.port = free_port()
        self.title = f"bench-{os.getpid()}-{self.port}"
        self.env = dict(os.environ, HOME=home)
        self.stop_ms: float | None = None
        self.command_ms: float | None = None

    def start(self) -> float:
        cmd = [
            EGGSCRIPTS, "start", "--daemon", f"--title={self.title}", f"--port={self.port}",
            "--hostname=127.0.0.1", f"--workers={self.workers}", str(self.app),
        ]  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready = wait_answering(self.port, started)
        out, err = proc.communicate(timeout=30)
        self.command_ms = (time.perf_counter() - started) * 1000
        if proc.returncode != 0:
            raise RuntimeError(f"eggscripts start failed: {out.decode()}{err.decode()}")
        return ready

    def pids(self) -> list[int]:
        return [p.pid for p in find_titled(f"eggscripts-master --title={self.title} ")]

    def stop(self) -> None:
        procs = [p for p in find_titled(f"--title={self.title} ")]
        gone_at: list[float] = []

        def watch() -> None:
            while any(alive(p) for p in procs):
                time.sleep(0.001)
            gone_at.append(time.perf_counter())

        watcher = threading.Thread(target=watch)
        watcher.start()
        subprocess.run(
            [EGGSCRIPTS, "stop", f"--title={self.title}"], env=self.env, capture_output=True
        )
        returned = time.perf_counter()
        watcher.join()
        self.stop_ms = (returned - gone_at[0]) * 1000


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def find_titled(prefix: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            cmd = proc.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if cmd and prefix in cmd[0] + " ":
            found.append(proc)
    return found


class Popened(Contender):
    def __init__(self, argv_for_port: Callable[[int], list[str]]) -> None:
        self.port = free_port()
        self.argv = argv_for_port(self.port)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return wait_answering(self.port, started)

    def pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid]

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                child.kill()
            self.proc.kill()
            self.proc.wait()


def raw_uvicorn(workers: int) -> Popened:
    def argv(port: int) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", "--workers", str(workers), "--no-access-log",
            "--http", "httptools", "--loop", "uvloop", "--host", "127.0.0.1",
            "--port", str(port), "--app-dir", "bench", "hello_asgi:app",
        ]  # fmt: skip

    c = Popened(argv)
    c.name = "uvicorn --workers"
    return c


def bare_fork(workers: int) -> Popened:
    c = Popened(lambda port: [sys.executable, "bench/bare_fork.py", str(port), str(workers)])
    c.name = "bare fork+uvicorn"
    return c


def worker_kill_check(workers: int, home: str, kills: int = 3) -> tuple[int, int, list[float]]:
    """SIGKILL a worker while a paced client (new connection per request) runs: returns
    (requests sent, requests failed, ms from kill until the replacement answered)."""
    egg = Eggscripts(workers, home)
    egg.start()
    sent = failed = 0
    stop = threading.Event()

    def client() -> None:
        nonlocal sent, failed
        while not stop.is_set():
            sent += 1
            if get(egg.port, "/", timeout=2) is None:
                failed += 1
            time.sleep(0.002)

    thread = threading.Thread(target=client)
    thread.start()
    replace_ms = []
    try:
        for _ in range(kills):
            time.sleep(0.5)
            apps = find_titled(f"eggscripts-app --title={egg.title} ")
            victim = apps[0]
            old = {p.pid for p in apps}
            victim.kill()
            killed = time.perf_counter()
            while True:
                now = {p.pid for p in find_titled(f"eggscripts-app --title={egg.title} ")}
                new = now - old
                if new:
                    break
                time.sleep(0.001)
            new_pid = new.pop()
            while True:
                got = get(egg.port, "/pid", timeout=1)
                if got and got[1].decode() == str(new_pid):
                    replace_ms.append((time.perf_counter() - killed) * 1000)
                    break
    finally:
        stop.set()
        thread.join()
        egg.stop()
    return sent, failed, replace_ms


def concurrent_ratios(args: argparse.Namespace, home: str) -> list[float]:
    egg, raw = Eggscripts(args.workers, home, args.app.resolve()), raw_uvicorn(args.workers)
    egg.start()
    raw.start()
    try:
        ratios = []
        for _ in range(args.rounds):
            egg_rps, raw_rps = wrk_together([egg.port, raw.port], args.duration)
            ratios.append(egg_rps / raw_rps)
        return ratios
    finally:
        egg.stop()
        raw.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--app", type=Path, default=SHOWCASE, help="app served by eggscripts")
    parser.add_argument("--skip-kill", action="store_true", help="skip the worker-kill check")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    home = tempfile.mkdtemp(prefix="eggscripts-bench-")
    factories: list[Callable[[], Contender]] = [
        lambda: Eggscripts(args.workers, home, args.app.resolve()),
        lambda: raw_uvicorn(args.workers),
        lambda: bare_fork(args.workers),
    ]
    results: dict[str, dict[str, list[float]]] = {}
    for rnd in range(args.rounds):
        for make in factories:
            contender = make()
            ready = contender.start()
            time.sleep(0.5)
            rss = tree_rss_mib(contender.pids())
            cpu_before = tree_cpu_seconds(contender.pids())
            rps, done = wrk(contender.port, args.duration)
            cpu = tree_cpu_seconds(contender.pids()) - cpu_before
            contender.stop()
            row = results.setdefault(
                contender.name, {"ready": [], "rps": [], "rss": [], "cpu_us": []}
            )
            row["ready"].append(ready)
            row["rps"].append(rps)
            row["rss"].append(rss)
            row["cpu_us"].append(cpu / max(done, 1) * 1e6)
            if isinstance(contender, Eggscripts):
                row.setdefault("stop", []).append(contender.stop_ms or 0.0)
                row.setdefault("command", []).append(contender.command_ms or 0.0)
            print(f"round {rnd + 1} {contender.name}: ready {ready:.0f} ms, {rps:.0f} req/s, "
                  f"{row['cpu_us'][-1]:.1f} us CPU/request, {rss:.0f} MiB", flush=True)
    base = statistics.median(results["uvicorn --workers"]["rps"])
    base_cpu = statistics.median(results["uvicorn --workers"]["cpu_us"])
    print(f"\nmedians over {args.rounds} rounds, {args.workers} workers, wrk -t2 -c64 "
          f"-d{args.duration}s (cpu ratio = uvicorn's CPU per request / this one's):")
    print(f"{'contender':<20} {'ready ms':>9} {'req/s':>9} {'ratio':>6} {'CPU us/req':>11} "
          f"{'cpu ratio':>9} {'RSS MiB':>8}")
    for name, row in results.items():
        rps = statistics.median(row["rps"])
        cpu_us = statistics.median(row["cpu_us"])
        print(f"{name:<20} {statistics.median(row['ready']):>9.0f} {rps:>9.0f} "
              f"{rps / base:>6.2f} {cpu_us:>11.1f} {base_cpu / cpu_us:>9.2f} "
              f"{statistics.median(row['rss']):>8.0f}")
    egg = results["eggscripts"]
    ratios = concurrent_ratios(args, home)
    print(f"loaded at the same time (one wrk -t1 -c32 each, {args.rounds} rounds): eggscripts "
          f"/ uvicorn = {statistics.median(ratios):.2f} (rounds: "
          f"{', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"eggscripts start --daemon returned after {statistics.median(egg['command']):.0f} ms"
          f"; stop returned {statistics.median(egg['stop']):.0f} ms after the cluster was gone")
    if args.skip_kill:
        return
    sent, failed, replace_ms = worker_kill_check(args.workers, home)
    print(f"worker SIGKILL x{len(replace_ms)} under a paced client: {failed} of {sent} "
          f"requests lost; replacement answered after {statistics.median(replace_ms):.0f} ms "
          f"(median)")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
