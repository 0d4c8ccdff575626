"""Shared helpers: ports, HTTP requests, polling, and finding the eggscripts processes of
this test session (clusters are launched by tests/clusters.py).

Every cluster a test starts uses its own free port and a unique title, and the autouse
fixture in conftest.py fails any test that leaves an eggscripts process behind.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
SHOWCASE = ROOT / "examples" / "showcase"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROLES = ("master", "agent", "app")
# Every title a test uses carries this tag, so the leftover check of one pytest session never
# confuses its processes with another session's running on the same machine.
SESSION_TAG = f"t{os.getpid()}x"


def logs_under_base_dir(app: Path, name: str) -> None:
    """Make an app log to `<BASE_DIR>/logs/<name>/` in every env (`logger.dir`), for tests
    that look at (or fill up) that directory."""
    config = app / "config" / "config.default.py"
    config.parent.mkdir(exist_ok=True)
    text = config.read_text() if config.exists() else "config = {}\n"
    config.write_text(text + f"config['logger'] = {{'dir': 'logs/{name}'}}\n")


# Ports handed to clusters come from below the kernel's ephemeral range (32768-60999 by
# default): a port the kernel picks for `bind(0)` is also one it may give any client's
# outgoing connection a moment later (the load tests open thousands), and with two pytest
# workers the other one may pick it too. Each worker gets its own slice.
_PORTS_PER_WORKER = 5000
_worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").lstrip("gw") or 0) % 2
_port_base = 20000 + _worker * _PORTS_PER_WORKER
_next_port = itertools.count(random.randrange(_PORTS_PER_WORKER))


def free_port() -> int:
    """A port nothing listens on right now, from this pytest worker's slice (above)."""
    for _ in range(_PORTS_PER_WORKER):
        port = _port_base + next(_next_port) % _PORTS_PER_WORKER
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("0.0.0.0", port))  # clusters bind every address by default
            except OSError:
                continue
        return port
    raise AssertionError("no free port left in this worker's slice")


def wait_until(pred: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll `pred` until it returns something truthy; raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {pred}")
        time.sleep(interval)


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    port: int,
    path: str = "/",
    method: str = "GET",
    body: bytes | str | dict | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
    host: str = "127.0.0.1",
) -> Response:
    """One HTTP request on a fresh connection; raises OSError when nothing answers."""
    hdrs = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (`--uds`, the app config's cluster.listen.path)."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


def try_request(port: int, path: str = "/", timeout: float = 1.0) -> Response | None:
    try:
        return request(port, path, timeout=timeout)
    except OSError:
        return None


def _title_of(proc: psutil.Process) -> str | None:
    try:
        cmd = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return cmd[0] if cmd else None


def iter_eggscripts_processes(uid: int | None = None) -> Iterator[tuple[psutil.Process, str]]:
    """(process, title) for every eggscripts master/agent/app of the current user (or `uid`)."""
    uid = os.getuid() if uid is None else uid
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] is None or proc.info["uids"].real != uid:
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        title = _title_of(proc)
        if title and title.split(" ", 1)[0] in {f"eggscripts-{r}" for r in ROLES}:
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
            except psutil.NoSuchProcess:
                continue
            yield proc, title


def cluster_processes(title: str, uid: int | None = None) -> dict[str, list[psutil.Process]]:
    """The live processes of one cluster, by role, matched on the exact title token."""
    found: dict[str, list[psutil.Process]] = {r: [] for r in ROLES}
    for proc, ptitle in iter_eggscripts_processes(uid):
        parts = ptitle.split(" ")
        if f"--title={title}" in parts:
            found[parts[0].removeprefix("eggscripts-")].append(proc)
    return found


def session_processes() -> list[tuple[psutil.Process, str]]:
    """Eggscripts processes started by this test session (their title carries SESSION_TAG)."""
    return [(p, t) for p, t in iter_eggscripts_processes() if SESSION_TAG in t]


def kill_session_processes() -> list[str]:
    killed = []
    for proc, ptitle in session_processes():
        try:
            proc.kill()
            killed.append(f"{proc.pid} {ptitle}")
        except psutil.NoSuchProcess:
            pass
    return killed
