"""Helpers for the CLI tests: run the installed `eggscripts` console script as users do.

Every run gets `$HOME` pointed at a temporary directory (default daemon logs go to
`~/logs`) and an environment without PORT/EGG_WORKERS/EGG_SERVER_ENV, unless a test sets
them on purpose.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from tests.helpers import FIXTURES, cluster_processes, wait_until

EGGSCRIPTS = str(Path(sys.executable).parent / "eggscripts")
FAKE_RUNTIME = FIXTURES / "cli_fake_runtime" / "fake_runtime.py"
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


def fake_python(directory: Path) -> str:
    """An executable usable as `--python`: it runs the scripted fake runtime."""
    path = directory / "fake-python"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_RUNTIME}" "$@"\n')
    path.chmod(0o755)
    return str(path)


def make_app(directory: Path, name: str | None = None, tool: str = "") -> Path:
    """An app directory with a pyproject.toml (`tool` is the [tool.eggscripts] body)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    if name:
        lines += ["[project]", f'name = "{name}"', ""]
    if tool:
        lines += ["[tool.eggscripts]", tool]
    (directory / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return directory


def cluster_json(report_file: Path) -> dict[str, Any]:
    """The options JSON the fake runtime received (the last argv element)."""
    data = json.loads(report_file.read_text())
    return json.loads(data["argv"][-1])


@contextlib.contextmanager
def fake_cluster(
    title: str, base_dir: Path | str, workers: int = 2, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A fake cluster (master + agent + app processes with real titles) in the foreground,
    as a child of the test: once stopped its master stays a zombie until we reap it, which
    is exactly what `stop` must not wait for."""
    opts = {"base_dir": str(base_dir), "title": title, "port": 7001, "hostname": None,
            "workers": workers, "ready_fd": None}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, str(FAKE_RUNTIME), "-m", "runtime.start_cluster", json.dumps(opts)],
        env={**os.environ, "FAKE_MODE": "ready", **env},
    )
    try:
        wait_until(lambda: len(cluster_processes(title)["app"]) == workers, timeout=10)
        yield proc
    finally:
        for procs in cluster_processes(title).values():
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
        proc.kill()
        proc.wait()
