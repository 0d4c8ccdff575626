"""The one way the tests launch a cluster, in the three forms users meet:

- `Cluster`: `python -m runtime.start_cluster '<json>'`, the contract between CLI and
  runtime (docs/INTERNALS.md, section 1), run as a child of the test;
- `Foreground`: `eggscripts start` without --daemon, whose own process becomes the master;
- `start_daemon`: `eggscripts start --daemon`, the command returning once the cluster is
  ready (the `started` fixture of conftest.py and `asgi_helpers.Daemon` use it).

The two child forms share `ChildCluster`: output goes to files, never to a pipe nobody
reads (a full pipe would block the cluster), readiness is the master's "started on" line,
and a stop is SIGTERM then a reap. Every cluster a test starts uses its own free port and
a unique title, and conftest.py fails a test that leaves an eggscripts process behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from tests.cli_helpers import EGGSCRIPTS, run_cli
from tests.helpers import ROOT, cluster_processes, wait_until

# Outside local/unittest a cluster logs to ~/logs/<app name>/ (docs/CLI.md): clusters
# started by the tests get a HOME of their own, so no test writes into the real one.
TEST_HOME = tempfile.mkdtemp(prefix="eggscripts-test-home-")
REAL_HOME = os.environ.get("HOME")


def _test_home() -> str:
    """The HOME a test set (monkeypatch), else the suite's own, never the real one."""
    home = os.environ.get("HOME")
    return TEST_HOME if home == REAL_HOME or not home else home


class ChildCluster:
    """A master running as the test's child; `command` is how it was started."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.proc: subprocess.Popen[bytes] | None = None
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the cluster)
        self._err = tempfile.TemporaryFile()  # noqa: SIM115

    def _spawn(self, command: list[str], **kwargs: Any) -> None:
        self.proc = subprocess.Popen(command, stdout=self._out, stderr=self._err, **kwargs)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def output(self) -> tuple[str, str]:
        self._out.seek(0)
        self._err.seek(0)
        return self._out.read().decode(), self._err.read().decode()

    def _ready_or_exited(self, timeout: float, interval: float = 0.01) -> str:
        """ "ready" once the master logged that every worker started (one worker answering
        HTTP is not yet a ready cluster), "exited" if it exited first."""
        assert self.proc is not None
        proc = self.proc

        def done() -> str | None:
            if f" {self.title} started on " in self.output()[0]:
                return "ready"
            return "exited" if proc.poll() is not None else None

        return str(wait_until(done, timeout=timeout, interval=interval))

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def _terminate(self, timeout: float) -> int:
        """SIGTERM the master (if it still runs) and return its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def _close(self, timeout: float) -> None:
        """Stop the master if it still runs (continuing a SIGSTOPped one first). Whatever
        its children leave behind is for the leftover check to find, not for this cleanup
        to hide."""
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGCONT)
                self._terminate(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Cluster(ChildCluster):
    """A foreground cluster started through the documented runtime command line, so
    runtime tests start clusters exactly the way `eggscripts start` does."""

    def __init__(
        self,
        base_dir: Path | str,
        title: str,
        port: int,
        workers: int = 2,
        env: str = "prod",
        **extra: Any,
    ) -> None:
        super().__init__(title)
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
        self.prefix: list[str] = []  # a wrapper command, e.g. `unshare --pid --fork`
        # Run as another user (tests/reliability: `user=`, `group=`, `extra_groups=[]`).
        self.popen_kwargs: dict[str, Any] = {}
        self.env: dict[str, str] = {}
        self.python = sys.executable

    def start(self, wait: bool = True, timeout: float = 10.0) -> Cluster:
        self._spawn(
            [*self.prefix, self.python, "-m", "runtime.start_cluster", json.dumps(self.options)],
            cwd=str(ROOT),
            env={**os.environ, "HOME": _test_home(), **self.env},
            **self.popen_kwargs,
        )
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        if self._ready_or_exited(timeout, interval=0.02) == "exited":
            assert self.proc is not None
            out, err = self.output()
            raise AssertionError(
                f"cluster exited {self.proc.returncode} before ready:\n{out}\n{err}"
            )

    def processes(self) -> dict[str, list[psutil.Process]]:
        user = self.popen_kwargs.get("user")
        return cluster_processes(self.title, None if user is None else int(user))

    def wait(self, timeout: float = 10.0) -> tuple[int, str, str]:
        assert self.proc is not None
        self.proc.wait(timeout=timeout)
        return (self.proc.returncode, *self.output())

    def stop(self, timeout: float = 10.0) -> tuple[int, str, str]:
        if self.proc is None:
            return 0, "", ""
        self._terminate(timeout)
        return self.wait(timeout)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self._close(10.0)


class Foreground(ChildCluster):
    """`eggscripts start` without --daemon: the command's own process becomes the master,
    so once it exits it stays our zombie until reaped (which `stop` must not wait for)."""

    def __init__(
        self, *args: str, title: str, env: dict[str, str], cwd: Path | str | None = None
    ) -> None:
        super().__init__(title)
        self._spawn([EGGSCRIPTS, "start", *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 20.0) -> bool:
        """True once the cluster is ready; False if the command exited first (a usage
        error, or a cluster that failed to start)."""
        return self._ready_or_exited(timeout) == "ready"

    def stop(self, timeout: float = 20.0) -> int:
        return self._terminate(timeout)

    def close(self) -> None:
        try:
            self._close(20.0)
        finally:
            self._out.close()
            self._err.close()

    def __enter__(self) -> Foreground:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def foreground_clusters(
    clusters: list[tuple[Path | str, str, int]],
    env: dict[str, str],
    workers: int = 1,
    extra: tuple[str, ...] = (),
) -> Iterator[list[Foreground]]:
    """Ready foreground clusters, one per (app, title, port) on 127.0.0.1, started side by
    side; every one is stopped at the end."""
    with contextlib.ExitStack() as stack:
        running = []
        for app, title, port in clusters:
            args = (f"--title={title}", f"--port={port}", "--hostname=127.0.0.1")
            fg = Foreground(*args, f"--workers={workers}", *extra, str(app), title=title, env=env)
            running.append(stack.enter_context(fg))
        for fg in running:
            if not fg.wait_ready():
                out, err = fg.output()
                raise AssertionError(f"{fg.title} did not start:\n{out}\n{err}")
        yield running


@contextlib.contextmanager
def foreground_cluster(
    app: Path | str,
    title: str,
    port: int,
    env: dict[str, str],
    workers: int = 1,
    extra: tuple[str, ...] = (),
) -> Iterator[Foreground]:
    """A ready foreground cluster of `app` on 127.0.0.1:`port`; stopped at the end."""
    with foreground_clusters([(app, title, port)], env, workers, extra) as (fg,):
        yield fg


def start_and_stop(
    *args: str, title: str, env: dict[str, str], cwd: Path | str | None = None
) -> tuple[int, bool, str, str]:
    """Run a foreground `eggscripts start` until the cluster is ready (or the command
    exits), then SIGTERM it: (exit status, was it ready, stdout, stderr)."""
    with Foreground(*args, title=title, env=env, cwd=cwd) as fg:
        ready = fg.wait_ready()
        status = fg.stop()
        return (status, ready, *fg.output())


def start_daemon(
    *args: str,
    title: str,
    port: int,
    env: dict[str, str],
    workers: int | None = 2,
    cwd: Path | str | None = None,
    timeout: float = 30.0,
) -> subprocess.CompletedProcess[str]:
    """`eggscripts start --daemon` on 127.0.0.1:`port` (`workers=None`: the CLI's
    default); returns once the command does (the cluster ready, or the start failed): the
    caller checks the exit status."""
    count = () if workers is None else (f"--workers={workers}",)
    return run_cli(
        "start", "--daemon", f"--title={title}", f"--port={port}", "--hostname=127.0.0.1",
        *count, *args, env=env, cwd=cwd, timeout=timeout,
    )  # fmt: skip
