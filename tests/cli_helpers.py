"""Helpers for the CLI tests: run the installed `eggscripts` console script as users do,
against the real runtime (`python -m runtime.start_cluster`, started by `eggscripts start`).

Every run gets `$HOME` pointed at a temporary directory (default daemon logs go to
`~/logs`) and an environment without PORT/EGG_WORKERS/EGG_SERVER_ENV, unless a test sets
them on purpose. Nothing here stands in for the master: to see what the CLI hands over,
`RecordingPython` is a `--python` that writes down how it was run and then execs the real
interpreter with the same arguments.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from tests.helpers import cluster_processes, wait_until

EGGSCRIPTS = str(Path(sys.executable).parent / "eggscripts")
_DEFAULT_ENV_VARS = ("PORT", "EGG_WORKERS", "EGG_SERVER_ENV", "EGGSCRIPTS_DEBUG")


def cli_env(home: Path | str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DEFAULT_ENV_VARS}
    env["HOME"] = str(home)
    env.update(extra)
    return env


def run_cli(
    *args: str,
    env: dict[str, str],
    cwd: Path | str | None = None,
    timeout: float = 30.0,
    stdin: Any = subprocess.DEVNULL,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EGGSCRIPTS, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=stdin,
    )


def make_app(directory: Path, name: str | None = None, tool: str = "") -> Path:
    """An app directory with a pyproject.toml (`tool` is the [tool.eggscripts] body) and an
    empty `app/router.py` (a directory with none of a router, controllers, app.py,
    agent.py or config/ is no app and `start` refuses it): it boots and serves, every path
    a 404."""
    (directory / "app").mkdir(parents=True, exist_ok=True)
    (directory / "app" / "router.py").write_text("def router(app):\n    pass\n")
    lines = []
    if name:
        lines += ["[project]", f'name = "{name}"', ""]
    if tool:
        lines += ["[tool.eggscripts]", tool]
    (directory / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return directory


def copy_app(source: Path, tmp_path: Path) -> Path:
    """A fixture app copied to a temporary directory, so the logs and run files the
    runtime writes into BASE_DIR never land in the repository."""
    target = tmp_path / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("logs", "run", "__pycache__"))
    return target


def everything(title: str) -> list[int]:
    """Pids of every live process (master, agent, app workers) of one cluster."""
    return sorted(p.pid for procs in cluster_processes(title).values() for p in procs)


def master_of(title: str, timeout: float = 20.0) -> psutil.Process:
    """The (single) master of a cluster, once it has set its title."""
    return wait_until(lambda: cluster_processes(title)["master"], timeout=timeout)[0]


def ignored_signals(pid: int) -> set[int]:
    """The signals a process ignores (SIG_IGN), from `SigIgn` in /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as fh:
        mask = int(next(ln for ln in fh if ln.startswith("SigIgn:")).split()[1], 16)
    return {n for n in range(1, 65) if mask & (1 << (n - 1))}


# ---- what the CLI hands to the interpreter ------------------------------------------------

_RECORDER = '''#!{python}
"""`--python` for tests: write down how the CLI ran the cluster's interpreter (argv,
environment, cwd, session, fds, signal dispositions, umask), then exec the real
interpreter with the same arguments. The real master runs; nothing is faked."""
import json, os, signal, sys

def disposition(name):
    handler = signal.getsignal(getattr(signal, name))
    return {{signal.SIG_DFL: "default", signal.SIG_IGN: "ignore"}}.get(handler, "handler")

def has_tty():
    try:
        os.close(os.open("/dev/tty", os.O_RDWR))
        return True
    except OSError:
        return False

fds = []
for fd in os.listdir("/proc/self/fd"):
    try:
        os.readlink(f"/proc/self/fd/{{fd}}")  # the listing's own fd is closed by now
        fds.append(int(fd))
    except OSError:
        pass
umask = os.umask(0)
os.umask(umask)
record = {{
    "script": sys.argv[0],
    "argv": sys.argv[1:],
    "env": dict(os.environ),
    "cwd": os.getcwd(),
    "pid": os.getpid(),
    "sid": os.getsid(0),
    "pgid": os.getpgid(0),
    "umask": umask,
    "has_tty": has_tty(),
    "stdio": [os.readlink(f"/proc/self/fd/{{fd}}") for fd in (0, 1, 2)],
    "fds": sorted(fds),
    "signals": {{name: disposition(name) for name in {signals!r}}},
}}
path = os.path.join({calls!r}, f"{{os.getpid()}}-{{os.urandom(4).hex()}}.json")
with open(path + ".tmp", "w") as fh:
    json.dump(record, fh)
os.rename(path + ".tmp", path)
os.execv({python!r}, [{python!r}, *sys.argv[1:]])
'''

RECORDED_SIGNALS = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGTSTP", "SIGTTIN", "SIGTTOU")


class RecordingPython:
    """An executable for `--python`: records each run, then execs the real interpreter."""

    def __init__(self, directory: Path) -> None:
        self.calls_dir = directory / "python-calls"
        self.calls_dir.mkdir(parents=True, exist_ok=True)
        self.path = str(directory / "recording-python")
        script = _RECORDER.format(
            python=sys.executable, calls=str(self.calls_dir), signals=RECORDED_SIGNALS
        )
        Path(self.path).write_text(script)
        Path(self.path).chmod(0o755)

    def calls(self) -> list[dict[str, Any]]:
        """Every recorded run, oldest first."""
        files = sorted(self.calls_dir.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        return [json.loads(p.read_text()) for p in files]

    def last(self) -> dict[str, Any]:
        calls = self.calls()
        assert calls, "the cluster's interpreter was never run"
        return calls[-1]

    def options(self) -> dict[str, Any]:
        """The options JSON (INTERNALS §1) of the last run: `-m runtime.start_cluster JSON`."""
        argv = self.last()["argv"]
        assert argv[:2] == ["-m", "runtime.start_cluster"], argv
        return json.loads(argv[2])

    def clear(self) -> None:
        for path in self.calls_dir.glob("*.json"):
            path.unlink()


@contextlib.contextmanager
def busy_port(port: int) -> Iterator[socket.socket]:
    """Something else listens on `port` (every interface). A real master started on it
    parses and validates its options, fails to bind, prints one line and exits 1 before
    it starts any child: the quickest complete run of the real runtime."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", port))
        sock.listen()
        yield sock


# ---- foreground clusters -------------------------------------------------------------------


class Foreground:
    """`eggscripts start` without --daemon, run as a child of the test: the command's own
    process becomes the master, so once it exits it stays our zombie until reaped (which
    `stop` must not wait for). Output goes to files, never to a pipe nobody reads."""

    def __init__(
        self,
        *args: str,
        title: str,
        env: dict[str, str],
        cwd: Path | str | None = None,
    ) -> None:
        self.title = title
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the cluster
        self._err = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            [EGGSCRIPTS, "start", *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> tuple[str, str]:
        self._out.seek(0)
        self._err.seek(0)
        return self._out.read().decode(), self._err.read().decode()

    def wait_ready(self, timeout: float = 20.0) -> bool:
        """True once the master logged that every worker started; False if the command
        exited first (a usage error, or a cluster that failed to start)."""

        def done() -> str | None:
            if f" {self.title} started on " in self.output()[0]:
                return "ready"
            if self.proc.poll() is not None:
                return "exited"
            return None

        return wait_until(done, timeout=timeout, interval=0.01) == "ready"

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM the master (if it still runs) and return its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        """Stop the master if it still runs (continuing a SIGSTOPped one first). Whatever
        its children leave behind is for the session's leftover check to find, not for
        this cleanup to hide."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGCONT)
                self.stop()
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
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


def status_json(title: str, env: dict[str, str]) -> dict[str, Any]:
    result = run_cli("status", f"--title={title}", "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema"] == 1 and len(doc["clusters"]) == 1
    return doc["clusters"][0]
