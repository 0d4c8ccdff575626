"""Where eggscripts spends its start, its memory and its CPU per request, beside raw
`uvicorn --workers` serving a hello-world ASGI callable, measured the same way in one run.

    python bench/profile.py [--app examples/showcase] [--workers 2] [--rounds 3]
                            [--duration 3] [--connections 32] [--modules]
                            [--parts phases,start,memory,cpu] [--json FILE]

1. Start, phase by phase: one foreground `eggscripts start` runs with bench/probe on
   PYTHONPATH (each process logs its interpreter start, every module it loads, its forks
   and spawns, on the system-wide monotonic clock) and the master's own log lines
   (`agent started`, `app_worker started`, `started on`): CLI interpreter and imports, the
   exec into the master, master imports up to the agent's fork (a spawned agent, in older
   versions: its interpreter), the agent's app load (its CPU ms are the agent's own; its
   end is when the master logged it, after the pre-import), the pre-import before the first
   app worker fork (`spawner.prepare()`), each worker's boot, readiness round trips. Wall ms
   and the CPU ms the process spent in the phase (steadier on a loaded machine), plus the
   number of modules each process loaded; the modules the master held at the agent's fork
   and at the first app worker's. `--modules` also lists them.
2. Start to first 200, foreground, medians of `--rounds` interleaved rounds, with no probe.
3. Idle memory per process (RSS, PSS, USS from /proc/<pid>/smaps_rollup): master, agent,
   workers; forked workers share pages, so PSS/USS say what the tree really costs.
4. Server CPU microseconds per request under a bounded wrk load (`-t1 -c<connections>
   -d<duration>s`, 127.0.0.1 only): CPU seconds of every process of the tree / requests
   done. Steadier than req/s when the load generator shares the cores.

Not a test; wrk is needed for 4 (`apt-get install -y wrk`), the rest runs without it.
Run it as a script: with bench/ first on sys.path this file shadows the standard library's
`profile` module, which `cProfile` imports.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psutil
from measure import free_port, get, tree, tree_cpu_seconds, wait_answering, wrk
from peers import BIN, HERE, ROOT, Uvicorn

PROBE = HERE / "probe"
LOG_RE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \S+ \d+ \[master\] (\S+?)(?:#\d+)?:(\d+) started"
)
READY_RE = re.compile(r"(?m)^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*\[master\] \S+ started on ")
WATCHED = ("prometheus_client", "websockets", "a2wsgi", "h11", "yaml", "watchfiles", "click")


class Cluster:
    """A foreground `eggscripts start` (the CLI execs the master: same pid)."""

    def __init__(self, app: Path, workers: int, env: dict[str, str]) -> None:
        self.port = free_port()
        self.title = f"profile-{os.getpid()}-{self.port}"
        self.argv = [
            str(BIN / "eggscripts"), "start", f"--title={self.title}", f"--port={self.port}",
            "--hostname=127.0.0.1", f"--workers={workers}", str(app),
        ]  # fmt: skip
        self.env = env

    def start(self) -> float:
        self.out = tempfile.TemporaryFile()  # noqa: SIM115 - read back and closed in stop()
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=self.out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        return wait_answering(self.port, started)

    def roots(self) -> list[int]:
        return [self.proc.pid]

    def wait_ready(self, timeout: float = 30) -> None:
        """Until the master logged ready: the first 200 may come from the first worker up,
        before the others have booted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.out.seek(0)
            if READY_RE.search(self.out.read().decode(errors="replace")):
                return
            time.sleep(0.01)

    def roles(self) -> dict[int, str]:
        """pid -> master / agent / app#n, from the process titles."""
        found = {self.proc.pid: "master"}
        apps = 0
        for proc in tree([self.proc.pid]):
            try:
                title = proc.cmdline()[0]
            except (psutil.NoSuchProcess, IndexError):
                continue
            if title.startswith("eggscripts-agent "):
                found[proc.pid] = "agent"
            elif title.startswith("eggscripts-app "):
                apps += 1
                found[proc.pid] = f"app#{apps}"
        return found

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.out.seek(0)
        with self.out:
            return self.out.read().decode(errors="replace")


class Raw(Uvicorn):
    def roles(self) -> dict[int, str]:
        found = {self.proc.pid: "master"}
        for n, pid in enumerate(self.workers(), 1):
            found[pid] = f"worker#{n}"
        for proc in tree([self.proc.pid]):
            found.setdefault(proc.pid, "other")
        return found


# -- 1. start phases -----------------------------------------------------------------------
def read_probe(directory: Path) -> dict[int, list[tuple[float, float, str, str]]]:
    events: dict[int, list[tuple[float, float, str, str]]] = {}
    for path in directory.glob("*.log"):
        rows = []
        for line in path.read_text().splitlines():
            mono, cpu, event, *arg = line.split(" ", 3)
            rows.append((float(mono), float(cpu), event, arg[0] if arg else ""))
        events[int(path.stem)] = rows
    return events


def master_log_times(output: str, wall_to_mono: float) -> tuple[dict[int, float], float | None]:
    """pid -> monotonic time the master logged it started; when it logged ready."""

    def mono(stamp: str) -> float:
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp() - wall_to_mono

    started: dict[int, float] = {}
    ready = None
    for line in output.splitlines():
        if match := LOG_RE.match(line):
            started[int(match.group(3))] = mono(match.group(1))
        elif match := READY_RE.match(line):
            ready = mono(match.group(1))
    return started, ready


def probe_start(app: Path, workers: int, show_modules: bool) -> dict:
    probe_dir = Path(tempfile.mkdtemp(prefix="eggscripts-probe-"))
    paths = [str(PROBE), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = dict(os.environ, EGGSCRIPTS_PROBE_DIR=str(probe_dir), PYTHONPATH=os.pathsep.join(paths))
    cluster = Cluster(app, workers, env)
    wall_to_mono = time.time() - time.monotonic()
    t0 = time.monotonic()
    cluster.start()
    first_200 = time.monotonic()
    cluster.wait_ready()
    roles = cluster.roles()
    output = cluster.stop()
    events = read_probe(probe_dir)
    started, ready = master_log_times(output, wall_to_mono)
    master = cluster.proc.pid
    m = events[master]
    agent_pid = next((p for p, r in roles.items() if r == "agent"), None)
    forked = {pid: int(r[3].split()[1]) for pid, rows in events.items() for r in rows
              if r[2] == "child" and r[3].split()[0] == str(master)}  # fmt: skip
    # The early start: the CLI is the master's child forked before its exec (the probe's
    # fork count starts again in the exec'd runtime), parsing while the master imports.
    cli_child = next((pid for pid in forked if pid not in roles), None)
    forked.pop(cli_child, None)
    app_forks = sorted(n for pid, n in forked.items() if pid != agent_pid)
    fork_modules = {}  # what the master held at its agent's fork and at its first app fork
    for what, n in (("agent", forked.get(agent_pid)), ("first app", min(app_forks, default=None))):
        if n is not None:
            fork_modules[what] = (probe_dir / f"{master}.fork{n}").read_text().split()
    shutil.rmtree(probe_dir, ignore_errors=True)

    def first(rows: list, event: str, nth: int = 0, arg: str | None = None) -> tuple | None:
        """(time, cpu) of the nth `event` (with `arg`); None when the start went another way."""
        hits = [r for r in rows if r[2] == event and (arg is None or r[3].split()[0] == arg)]
        return (hits[nth][0], hits[nth][1]) if len(hits) > nth else None

    def imported(rows: list, since: float = 0, until: float = float("inf")) -> list[str]:
        names = [r[3] for r in rows if r[2] == "import" and since <= r[0] < until]
        return list(dict.fromkeys(names))

    phases: list[tuple[str, float, float | None, int | None]] = []  # what, ms, cpu ms, modules

    def phase(what: str, a: tuple | None, b: tuple | None, rows=None) -> None:
        if a is None or b is None:
            return
        cpu = (b[1] - a[1]) * 1000 if rows is not None else None
        count = len(imported(rows, a[0], b[0])) if rows is not None else None
        phases.append((what, (b[0] - a[0]) * 1000, cpu, count))

    cli_start, exec_at = first(m, "start", 0), first(m, "exec")
    master_start = first(m, "start", 1) or cli_start
    runtime_rows = [r for r in m if master_start and r[0] >= master_start[0]]
    # The agent is forked (older versions spawned a new interpreter: `spawn`).
    spawn = first(m, "spawn")
    agent_fork = (
        first(runtime_rows, "fork", arg=str(forked[agent_pid])) if agent_pid in forked else None
    )
    agent_born = spawn or agent_fork
    fork1 = first(runtime_rows, "fork", arg=str(app_forks[0])) if app_forks else None
    phase("CLI interpreter init (Popen -> site)", (t0, 0), cli_start)
    if cli_child is not None and cli_child in events:
        c = events[cli_child]
        phase("CLI fork -> exec of the runtime", cli_start, exec_at)
        phase("  (CLI child, in parallel: imports, options)", first(c, "child"), c[-1][:2], c)
    else:
        phase("CLI imports and option resolution", cli_start, exec_at, m)
    # Without an exec (the CLI runs the master itself), the master's start is the CLI's.
    phase("exec -> master interpreter init", exec_at, master_start)
    phase("master imports, bind, until agent fork", master_start, agent_born, m)
    phase("master pre-import for workers (prepare)", agent_born, fork1, m)
    agent_modules: list[str] = []
    if agent_pid in events:
        a = events[agent_pid]
        agent_start = first(a, "start") or first(a, "child")  # spawned, or forked
        agent_modules = imported(a)
        phase("agent spawn/fork -> its first line", agent_born, agent_start)
        if agent_pid in started:
            end = (started[agent_pid], a[-1][1])
            cpu_at_end = [r[1] for r in a if r[0] <= started[agent_pid]][-1]
            phase("agent imports + app load -> agent-start", agent_start, (end[0], cpu_at_end), a)
    worker_modules: dict[str, list[str]] = {}
    for pid, role in roles.items():
        if not role.startswith("app#") or pid not in events:
            continue
        w = events[pid]
        worker_modules[role] = imported(w)
        born = first(w, "child")
        if pid in started:
            cpu_at_end = [r[1] for r in w if r[0] <= started[pid]][-1]
            phase(f"{role} fork -> app-start (boot)", born, (started[pid], cpu_at_end), w)
    if ready is not None and started:
        phase("last app-start -> master logs ready", (max(started.values()), 0), (ready, 0))
        phase("ready -> first 200 (<0: a worker answered first)", (ready, 0), (first_200, 0))
    phase("total: Popen -> first 200", (t0, 0), (first_200, 0))
    result = {
        "phases": phases,
        "modules": {
            "cli (before exec)": imported(events[cli_child])
            if cli_child in events
            else imported(m, 0, exec_at[0])
            if exec_at
            else [],
            **{f"master at {k} fork": v for k, v in fork_modules.items()},
            "agent": agent_modules,
            **{f"{k} after fork": v for k, v in worker_modules.items()},
        },
    }
    print("\n1. start, phase by phase (one probed foreground start; wall ms, CPU ms, modules):")
    for what, ms, cpu, count in phases:
        cells = f"{ms:8.1f} ms" + (f"  cpu {cpu:7.1f} ms  {count:4d} modules" if cpu else "")
        print(f"  {what:<45} {cells}")
    print("  modules loaded per process kind (watched packages present):")
    for kind, names in result["modules"].items():
        tops = {n.split(".")[0] for n in names}
        ours = sum(n.startswith(("runtime", "eggscripts")) for n in names)
        watched = [w for w in WATCHED if w in tops]
        print(f"    {kind:<22} {len(names):4d} modules ({ours} ours); {', '.join(watched) or '-'}")
        if show_modules:
            print("      " + " ".join(sorted(names)))
    return result


# -- 2. start to first 200 -----------------------------------------------------------------
def start_rounds(app: Path, workers: int, rounds: int) -> dict[str, list[float]]:
    home = tempfile.mkdtemp(prefix="eggscripts-profile-")
    times: dict[str, list[float]] = {"eggscripts": [], "uvicorn": []}
    try:
        for _ in range(rounds):
            cluster = Cluster(app, workers, dict(os.environ, HOME=home))
            times["eggscripts"].append(cluster.start())
            cluster.stop()
            raw = Raw(workers, home)
            times["uvicorn"].append(raw.start())
            raw.send_stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"\n2. foreground start -> first 200, median of {rounds} interleaved rounds:")
    for name, values in times.items():
        each = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {name:<12} {statistics.median(values):7.0f} ms   ({each})")
    return times


# -- 3. memory, 4. CPU per request ---------------------------------------------------------
def memory(roles: dict[int, str]) -> list[dict]:
    rows = []
    for pid, role in sorted(roles.items(), key=lambda item: item[1]):
        try:
            info = psutil.Process(pid).memory_full_info()
        except psutil.NoSuchProcess:
            continue
        rows.append({"role": role, "pid": pid, "rss": info.rss, "pss": info.pss, "uss": info.uss})
    return rows


def print_memory(name: str, rows: list[dict]) -> None:
    mib = 2**20
    for row in rows:
        print(f"  {name:<12} {row['role']:<9} RSS {row['rss'] / mib:6.1f}  PSS "
              f"{row['pss'] / mib:6.1f}  USS {row['uss'] / mib:6.1f} MiB")  # fmt: skip
    total = {k: sum(r[k] for r in rows) / mib for k in ("rss", "pss", "uss")}
    print(f"  {name:<12} {'sum':<9} RSS {total['rss']:6.1f}  PSS {total['pss']:6.1f}  "
          f"USS {total['uss']:6.1f} MiB")  # fmt: skip


def cpu_per_request(roots: list[int], port: int, duration: int, connections: int) -> dict:
    wrk(port, 1, threads=1, connections=connections)  # warm-up
    before = tree_cpu_seconds(roots)
    got = wrk(port, duration, threads=1, connections=connections)
    cpu = tree_cpu_seconds(roots) - before
    return {"cpu_us": cpu / max(got["done"], 1) * 1e6, "rps": got["rps"], "done": got["done"]}


@contextmanager
def running(kind: str, app: Path, workers: int, home: str) -> Iterator[Cluster | Raw]:
    server: Cluster | Raw
    if kind == "eggscripts":
        server = Cluster(app, workers, dict(os.environ, HOME=home))
    else:
        server = Raw(workers, home)
    server.start()
    try:
        yield server
    finally:
        if isinstance(server, Cluster):
            server.stop()
        else:
            server.send_stop()


def steady(app: Path, workers: int, args: argparse.Namespace) -> dict:
    home = tempfile.mkdtemp(prefix="eggscripts-profile-")
    result: dict = {"memory": {}, "cpu": {}}
    have_wrk = "cpu" in args.parts and shutil.which("wrk") is not None
    try:
        for kind in ("eggscripts", "uvicorn"):
            with running(kind, app, workers, home) as server:
                time.sleep(1.0)  # idle: boot garbage collected, nothing in flight
                get(server.port)
                result["memory"][kind] = memory(server.roles())
                if have_wrk:
                    runs = [
                        cpu_per_request(server.roots(), server.port, args.duration,
                                        args.connections)
                        for _ in range(args.rounds)
                    ]  # fmt: skip
                    result["cpu"][kind] = runs
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("\n3. idle memory per process (MiB; smaps_rollup):")
    for kind, rows in result["memory"].items():
        print_memory(kind, rows)
    if not have_wrk:
        if "cpu" in args.parts:
            print("\n4. CPU per request: skipped (wrk is not installed: apt-get install -y wrk)")
        return result
    print(f"\n4. server CPU per request, wrk -t1 -c{args.connections} -d{args.duration}s, "
          f"median of {args.rounds}:")  # fmt: skip
    for kind, runs in result["cpu"].items():
        cpu = statistics.median(r["cpu_us"] for r in runs)
        rps = statistics.median(r["rps"] for r in runs)
        each = ", ".join(f"{r['cpu_us']:.1f}" for r in runs)
        print(f"  {kind:<12} {cpu:6.1f} us/request   {rps:8.0f} req/s   ({each})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", type=Path, default=ROOT / "examples" / "showcase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--modules", action="store_true", help="list every module loaded")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--parts", default="phases,start,memory,cpu", help="what to run (default: all four)"
    )
    args = parser.parse_args()
    args.parts = set(args.parts.split(","))
    app = args.app.resolve()
    # As in bench/run.py: an installed package has its bytecode compiled.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "eggscripts", "runtime", "bench"],
                   cwd=str(ROOT), check=True)  # fmt: skip
    print(f"app {app}, {args.workers} workers; raw uvicorn serves bench/hello_asgi.py")
    report = {}
    if "phases" in args.parts:
        report["start"] = probe_start(app, args.workers, args.modules)
    if "start" in args.parts:
        report["start_ms"] = start_rounds(app, args.workers, args.rounds)
    if args.parts & {"memory", "cpu"}:
        report["steady"] = steady(app, args.workers, args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
