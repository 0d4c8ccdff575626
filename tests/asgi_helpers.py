"""Helpers for the ASGI/WSGI tests: daemons started (tests/clusters.py) and stopped
through the CLI, the time to a streamed response's first body byte, WebSocket echo
clients, per-process records."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests import conftest
from tests.cli_helpers import cli_env, copy_app, run_cli
from tests.clusters import start_daemon
from tests.helpers import FIXTURES, cluster_processes, free_port, wait_until

ASGI_FIXTURE = FIXTURES / "asgi"


class Daemon:
    def __init__(self, base_dir: Path, title: str, port: int, records: Path, home: Path) -> None:
        self.base_dir = base_dir
        self.title = title
        self.port = port
        self.records = records
        self.env = cli_env(home, ASGI_RECORD_DIR=str(records))
        self.home = home

    def log(self, name: str) -> Path:
        """A log file of the cluster: `~/logs/<title>/` outside local (its own title)."""
        return self.home / "logs" / self.title / name

    def start(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return start_daemon(
            "--timeout=30000", *args, title=self.title, port=self.port, env=self.env,
            cwd=cwd or self.base_dir, timeout=60,
        )  # fmt: skip

    def stop(self) -> subprocess.CompletedProcess[str]:
        result = run_cli("stop", f"--title={self.title}", env=self.env, timeout=60)
        wait_until(lambda: not any(cluster_processes(self.title).values()), timeout=5)
        return result

    def workers(self) -> list[int]:
        return sorted(p.pid for p in cluster_processes(self.title)["app"])

    def events(self, event: str) -> collections.Counter[int]:
        """How often each process recorded `event` (tests/fixtures/asgi/record.py)."""
        counts: collections.Counter[int] = collections.Counter()
        for path in self.records.glob("*.jsonl"):
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                if rec["event"] == event:
                    counts[rec["pid"]] += 1
        return counts

    def data(self, event: str) -> list[tuple[int, Any]]:
        found = []
        for path in self.records.glob("*.jsonl"):
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                if rec["event"] == event:
                    found.append((rec["pid"], rec.get("data")))
        return found


@contextlib.contextmanager
def shared_daemon(tmp_path_factory: Any, fixture: Path, hint: str, *args: str) -> Iterator[Daemon]:
    """A module-wide daemon (2 workers) of a copy of `fixture`, started through the CLI;
    its title is registered as shared so the per-test leftover check leaves it alone."""
    title = conftest.new_title(hint)
    conftest.SHARED_TITLES.add(title)
    tmp = tmp_path_factory.mktemp(hint)
    records = tmp / "records"
    records.mkdir()
    (tmp / "home").mkdir()
    daemon = Daemon(copy_app(fixture, tmp), title, free_port(), records, tmp / "home")
    try:
        result = daemon.start(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        yield daemon
    finally:
        daemon.stop()
        conftest.SHARED_TITLES.discard(title)


def first_chunk_delay(port: int, path: str, whole: bool = True) -> tuple[float, float]:
    """(seconds to the first body byte, seconds to the whole response) of a GET; with
    `whole=False` it hangs up after the first body byte (the second figure is then 0)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data = b""
        first = None
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if first is None and b"\r\n\r\n" in data and data.split(b"\r\n\r\n", 1)[1]:
                first = time.monotonic() - started
                if not whole:
                    return first, 0.0
        return first if first is not None else float("inf"), time.monotonic() - started


def best_first_chunk(port: int, path: str, tries: int = 3) -> tuple[float, float]:
    """(first byte, whole response) of one full GET; when the first byte was late, the
    best of a few more tries (one scheduling hiccup on a shared machine is not a bug)."""
    first, total = first_chunk_delay(port, path)
    for _ in range(tries - 1):
        if first < 0.1:
            break
        first = min(first, first_chunk_delay(port, path, whole=False)[0])
    return first, total


async def _echo(url: str, texts: list[str]) -> list[str]:
    from websockets.asyncio.client import connect

    async with connect(url, open_timeout=10) as ws:
        got = []
        for text in texts:
            await ws.send(text)
            got.append(await asyncio.wait_for(ws.recv(), 10))
        return got


def ws_echo(url: str, texts: list[str]) -> list[str]:
    return asyncio.run(_echo(url, texts))


def ws_many(url: str, clients: int, texts: int = 3) -> list[list[str]]:
    async def run_all() -> list[list[str]]:
        jobs = [_echo(url, [f"c{c}m{m}" for m in range(texts)]) for c in range(clients)]
        return await asyncio.gather(*jobs)

    return asyncio.run(run_all())


def ws_status(url: str) -> int | None:
    """The HTTP status a refused handshake got (None if it was accepted)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    async def attempt() -> int | None:
        try:
            async with connect(url, open_timeout=10):
                return None
        except InvalidStatus as exc:
            return exc.response.status_code

    return asyncio.run(attempt())


def raw(port: int, data: bytes, timeout: float = 10.0) -> tuple[bytes, float]:
    """Send raw bytes, read until the server closes: (what came back, seconds it took)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        started = time.monotonic()
        if data:
            sock.sendall(data)
        out = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                out += chunk
        return out, time.monotonic() - started
