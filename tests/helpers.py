"""Shared helpers for tests that drive real clusters over real sockets.

Every cluster a test starts uses its own free port and a unique title, and the autouse
fixture in conftest.py fails any test that leaves an eggscripts process behind.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
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
# Outside local/unittest a cluster logs to ~/logs/<app name>/ (SPEC §5): clusters started
# by the tests get a HOME of their own, so no test writes into the real one.
TEST_HOME = tempfile.mkdtemp(prefix="eggscripts-test-home-")
REAL_HOME = os.environ.get("HOME")


def _test_home() -> str:
    """The HOME a test set (monkeypatch), else the suite's own, never the real one."""
    home = os.environ.get("HOME")
    return TEST_HOME if home == REAL_HOME or not home else home


def logs_under_base_dir(app: Path, name: str) -> None:
    """Make an app log to `<BASE_DIR>/logs/<name>/` in every env (`logger.dir`), for tests
    that look at (or fill up) that directory."""
    config = app / "config" / "config.default.py"
    config.parent.mkdir(exist_ok=True)
    text = config.read_text() if config.exists() else "config = {}\n"
    config.write_text(text + f"config['logger'] = {{'dir': 'logs/{name}'}}\n")


def free_port() -> int:
    """A port nothing listens on right now (bound then released by the kernel)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Cluster:
    """A foreground cluster started through the documented runtime command line.

    `python -m runtime.start_cluster '<json>'` is the contract between CLI and runtime, so
    runtime tests start clusters exactly the way `eggscripts start` does.
    """

    def __init__(
        self,
        base_dir: Path | str,
        title: str,
        port: int,
        workers: int = 2,
        env: str = "prod",
        **extra: Any,
    ) -> None:
        self.title = title
        self.port = port
        self.options = {
            "base_dir": str(Path(base_dir).resolve()),
            "title": title,
            "port": port,
            "hostname": "127.0.0.1",
            "workers": workers,
            "env": env,
            **extra,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.prefix: list[str] = []  # a wrapper command, e.g. `unshare --pid --fork`
        # Run as another user (tests/reliability: `user=`, `group=`, `extra_groups=[]`).
        self.popen_kwargs: dict[str, Any] = {}
        self.env: dict[str, str] = {}
        self.python = sys.executable

    def start(self, wait: bool = True, timeout: float = 10.0) -> Cluster:
        # Output goes to files, not pipes: a test that never reads them must not be able to
        # block the cluster on a full pipe.
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the cluster)
        self._err = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*self.prefix, self.python, "-m", "runtime.start_cluster", json.dumps(self.options)],
            stdout=self._out,
            stderr=self._err,
            cwd=str(ROOT),
            env={**os.environ, "HOME": _test_home(), **self.env},
            **self.popen_kwargs,
        )
        if wait:
            self.wait_ready(timeout)
        return self

    def output(self) -> tuple[str, str]:
        self._out.seek(0)
        self._err.seek(0)
        return self._out.read().decode(), self._err.read().decode()

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Until the master logs that every worker started (one worker answering HTTP is
        not yet a ready cluster)."""

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                out, err = self.output()
                raise AssertionError(
                    f"cluster exited {self.proc.returncode} before ready:\n{out}\n{err}"
                )
            return f" {self.title} started on " in self.output()[0]

        wait_until(ready, timeout)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def processes(self) -> dict[str, list[psutil.Process]]:
        user = self.popen_kwargs.get("user")
        return cluster_processes(self.title, None if user is None else int(user))

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 10.0) -> tuple[int, str, str]:
        assert self.proc is not None
        self.proc.wait(timeout=timeout)
        return (self.proc.returncode, *self.output())

    def stop(self, timeout: float = 10.0) -> tuple[int, str, str]:
        if self.proc is None:
            return 0, "", ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
