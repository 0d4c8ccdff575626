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
import socket
import subprocess
import sys
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


def status_json(title: str, env: dict[str, str]) -> dict[str, Any]:
    result = run_cli("status", f"--title={title}", "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema"] == 1 and len(doc["clusters"]) == 1
    return doc["clusters"][0]
