"""Side-by-side benchmark of ASGI/WSGI hello worlds (not part of the test suite):

- FastAPI: `eggscripts start --workers=2 hello:app` vs `uvicorn --workers 2` vs
  `gunicorn -w 2 -k uvicorn.workers.UvicornWorker`;
- Flask: `eggscripts start --workers=2 --threads=4 flaskhello:app` vs
  `gunicorn -w 2 --threads 4` (gthread).

    python bench/asgi_compare.py [--rounds 3] [--duration 8] [--connections 64]
                                 [--only flask|fastapi]

Every server binds 127.0.0.1 on a free port; wrk (apt-get install wrk) loads it for
`--duration` seconds after a short warm-up. Rounds alternate the servers so drift on a
shared machine hits all of them alike; the table shows medians and the ratio to the
reference (uvicorn for FastAPI, gunicorn gthread for Flask). gunicorn is installed into
this interpreter's environment with pip when it is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent
FASTAPI_APP = """from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root():
    return {"message": "Hello World"}
"""
FLASK_APP = """from flask import Flask

app = Flask(__name__)


@app.get("/")
def root():
    return {"message": "Hello World"}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answering(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
        try:
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
        finally:
            conn.close()
    raise RuntimeError(f"nothing answers on port {port}")


def servers(port: int) -> dict[str, list[str]]:
    """Name -> command line, every one serving on 127.0.0.1:port with 2 workers."""
    title = f"bench-asgi-{os.getpid()}"
    egg = [str(BIN / "eggscripts"), "start", f"--title={title}", f"--port={port}",
           "--hostname=127.0.0.1", "--workers=2"]  # fmt: skip
    gunicorn = [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level=warning"]
    uvicorn = [str(BIN / "uvicorn"), "hello:app", "--workers", "2", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    return {
        "fastapi: eggscripts --app": [*egg, "hello:app"],
        "fastapi: uvicorn --workers 2": uvicorn,
        "fastapi: gunicorn -k UvicornWorker": [
            *gunicorn,
            "-k",
            "uvicorn.workers.UvicornWorker",
            "hello:app",
        ],
        "flask: eggscripts --threads 4": [*egg, "--threads=4", "flaskhello:app"],
        "flask: gunicorn --threads 4": [*gunicorn, "--threads", "4", "flaskhello:app"],
    }


REFERENCE = {"fastapi": "fastapi: uvicorn --workers 2", "flask": "flask: gunicorn --threads 4"}


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
    except psutil.Error:
        pass
    return total


def measure(
    cmd: list[str], cwd: str, port: int, duration: int, connections: int
) -> tuple[float, float]:
    """(req/s, server CPU microseconds per request). The second is what the server costs
    whatever else the machine is doing, so it is the fairer figure on a shared host."""
    env = {**os.environ, "EGG_SERVER_ENV": "prod", "HOME": cwd}
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        answering(port)
        wrk = ["wrk", "-t2", f"-c{connections}", f"http://127.0.0.1:{port}/"]
        subprocess.run([*wrk[:3], "-d2s", wrk[3]], capture_output=True, check=True)  # warm-up
        cpu = tree_cpu(proc.pid)
        out = subprocess.run([*wrk[:3], f"-d{duration}s", wrk[3]], capture_output=True, text=True)
        cpu = tree_cpu(proc.pid) - cpu
        found = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
        count = re.search(r"(\d+) requests in", out.stdout)
        if not found or not count:
            raise RuntimeError(f"wrk said: {out.stdout}{out.stderr}")
        return float(found.group(1)), cpu * 1e6 / int(count.group(1))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def ensure_gunicorn() -> None:
    if not (BIN / "gunicorn").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "gunicorn"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--only", choices=sorted(REFERENCE), help="run one family's rows")
    args = parser.parse_args()
    ensure_gunicorn()
    results: dict[str, list[float]] = {}
    costs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="asgi-bench-") as tmp:
        Path(tmp, "hello.py").write_text(FASTAPI_APP)
        Path(tmp, "flaskhello.py").write_text(FLASK_APP)
        for round_no in range(args.rounds):
            for name in servers(0):
                if args.only and not name.startswith(args.only + ":"):
                    continue
                port = free_port()
                cmd = servers(port)[name]
                rps, cost = measure(cmd, tmp, port, args.duration, args.connections)
                results.setdefault(name, []).append(rps)
                costs.setdefault(name, []).append(cost)
                print(f"round {round_no + 1}: {name:36} {rps:8.0f} req/s {cost:6.0f} us/req")
    print(f"\nmedians of {args.rounds} rounds, wrk -t2 -c{args.connections} -d{args.duration}s")
    print("| server | req/s | ratio | server CPU us/req | CPU ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, values in results.items():
        ref_name = REFERENCE[name.split(":")[0]]
        rps, ref = statistics.median(values), statistics.median(results[ref_name])
        cost, ref_cost = statistics.median(costs[name]), statistics.median(costs[ref_name])
        print(f"| {name} | {rps:.0f} | {rps / ref:.3f} | {cost:.0f} | {cost / ref_cost:.3f} |")
    print(f"(ratios to {' / '.join(REFERENCE.values())}; CPU ratio < 1 = cheaper)")


if __name__ == "__main__":
    main()
