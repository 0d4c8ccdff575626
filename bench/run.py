"""Side-by-side benchmark: eggscripts (showcase, 2 workers) vs raw `uvicorn --workers 2`
vs a bare fork+uvicorn master, all serving hello world on this machine, in one run.

    python bench/run.py [--rounds 3] [--load-rounds 9] [--duration 2] [--workers 2]

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


def start_stop_rounds(
    factories: list[Callable[[], Contender]], rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Start -> answering, idle RSS and (eggscripts) stop latency, one contender at a time."""
    results: dict[str, dict[str, list[float]]] = {}
    for rnd in range(rounds):
        for make in factories:
            contender = make()
            ready = contender.start()
            time.sleep(0.5)
            rss = tree_rss_mib(contender.pids())
            contender.stop()
            row = results.setdefault(contender.name, {"ready": [], "rss": []})
            row["ready"].append(ready)
            row["rss"].append(rss)
            if isinstance(contender, Eggscripts):
                row.setdefault("stop", []).append(contender.stop_ms or 0.0)
                row.setdefault("command", []).append(contender.command_ms or 0.0)
            print(f"round {rnd + 1} {contender.name}: ready {ready:.0f} ms, {rss:.0f} MiB",
                  flush=True)  # fmt: skip
    return results


def load_rounds(
    contenders: list[Contender], rounds: int, duration: int
) -> dict[str, dict[str, list[float]]]:
    """Throughput and CPU per request, the contenders loaded in turn (A B C A B C ...) with
    short runs, so bursts of outside load on this shared machine hit each alike."""
    results: dict[str, dict[str, list[float]]] = {}
    for _ in range(rounds):
        for contender in contenders:
            cpu_before = tree_cpu_seconds(contender.pids())
            rps, done = wrk(contender.port, duration)
            cpu = tree_cpu_seconds(contender.pids()) - cpu_before
            row = results.setdefault(contender.name, {"rps": [], "cpu_us": []})
            row["rps"].append(rps)
            row["cpu_us"].append(cpu / max(done, 1) * 1e6)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=2, help="seconds per load run")
    parser.add_argument("--load-rounds", type=int, default=9, help="load runs per contender")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--app", type=Path, default=SHOWCASE, help="app served by eggscripts")
    parser.add_argument("--skip-kill", action="store_true", help="skip the worker-kill check")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    home = tempfile.mkdtemp(prefix="eggscripts-bench-")
    # An installed package has its bytecode compiled (pip does it); an editable checkout
    # under PYTHONDONTWRITEBYTECODE=1 would recompile every module on every start.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "eggscripts", "runtime", str(args.app)],
        cwd=str(ROOT),
        check=True,
    )
    factories: list[Callable[[], Contender]] = [
        lambda: Eggscripts(args.workers, home, args.app.resolve()),
        lambda: raw_uvicorn(args.workers),
        lambda: bare_fork(args.workers),
    ]
    starts = start_stop_rounds(factories, args.rounds)
    contenders = [make() for make in factories]
    for contender in contenders:
        contender.start()
    try:
        loads = load_rounds(contenders, args.load_rounds, args.duration)
    finally:
        for contender in contenders:
            contender.stop()
    base = statistics.median(loads["uvicorn --workers"]["rps"])
    base_cpu = statistics.median(loads["uvicorn --workers"]["cpu_us"])
    print(
        f"\nmedians; start: {args.rounds} rounds; load: {args.load_rounds} interleaved runs "
        f"of wrk -t2 -c64 -d{args.duration}s; {args.workers} workers"
    )
    print(
        f"{'contender':<20} {'ready ms':>9} {'req/s':>9} {'ratio':>6} {'CPU us/req':>11} "
        f"{'cpu ratio':>9} {'RSS MiB':>8}"
    )
    for name, row in starts.items():
        rps = statistics.median(loads[name]["rps"])
        cpu_us = statistics.median(loads[name]["cpu_us"])
        print(
            f"{name:<20} {statistics.median(row['ready']):>9.0f} {rps:>9.0f} "
            f"{rps / base:>6.2f} {cpu_us:>11.1f} {base_cpu / cpu_us:>9.2f} "
            f"{statistics.median(row['rss']):>8.0f}"
        )
    print(
        "(ratio: req/s over raw uvicorn's; cpu ratio: raw uvicorn's CPU per request over "
        "this one's, the steadier figure on a shared machine)"
    )
    egg = starts["eggscripts"]
    print(
        f"eggscripts start --daemon returned after {statistics.median(egg['command']):.0f} ms"
        f"; stop returned {statistics.median(egg['stop']):.0f} ms after the cluster was gone"
    )
    if args.skip_kill:
        return
    sent, failed, replace_ms = worker_kill_check(args.workers, home)
    print(
        f"worker SIGKILL x{len(replace_ms)} under a paced client: {failed} of {sent} "
        f"requests lost; replacement answered after {statistics.median(replace_ms):.0f} ms "
        f"(median)"
    )
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
