"""The control channel on its own: the master's ControlServer driven by a selector loop of:
the cases with real processes (the others are in
tests/unit/runtime/master/test_control_channel.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from eggscripts import __version__
from tests.cli_helpers import cli_env, run_cli
from tests.unit.runtime.master.test_control_channel import (  # noqa: F401 (fixtures)
    LoopThread,
    reload_handlers,
    runtime_dir_fixture,
    serve_fixture,
)


def test_other_uid_is_refused_by_peer_credentials(serve: Any, title: str, tmp_path: Path) -> None:
    """Even past the 0700 directory (here: a hard link in an open directory, the socket
    made world-writable on purpose), a process of another uid gets one error frame."""
    if os.getuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to connect as another user")
    loop = serve(title, {"status": lambda r: r.finish({"secret": 1})})
    public = Path(tempfile.mkdtemp(prefix="eggscripts-test-"))  # reachable by anyone
    public.chmod(0o755)
    link = public / "s.sock"
    os.link(loop.server.path, link)
    os.chmod(link, 0o666)
    script = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])\n"
        "try: s.sendall(b'\\x00\\x00\\x00\\x13' + b'{\"action\":\"status\"}')\n"
        "except BrokenPipeError: pass\n"
        "data=b''\n"
        "while True:\n"
        "    try: chunk=s.recv(4096)\n"
        "    except ConnectionResetError: break\n"
        "    if not chunk: break\n"
        "    data+=chunk\n"
        "print(data[4:].decode())\n"
    )
    out = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         "/usr/bin/python3", "-c", script, str(link)],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    shutil.rmtree(public)
    assert out.returncode == 0, out.stderr
    assert "permission denied: not the owner of this cluster" in out.stdout
    assert "secret" not in out.stdout


# ---- `eggscripts reload` against a fake master ----------------------------------------------


def run_reload(serve: Any, title: str, runtime_dir: Path, script: list[Any], *args: str) -> Any:
    ref: list[LoopThread] = []
    ref.append(serve(title, reload_handlers(ref, script)))
    env = cli_env(runtime_dir, XDG_RUNTIME_DIR=str(runtime_dir))
    return run_cli("reload", f"--title={title}", *args, env=env)


def test_reload_prints_progress_and_the_new_pids(serve: Any, title: str, runtime_dir: Path) -> None:
    script = [
        ("accepted", {"pid": 1, "version": __version__, "workers": 2}),
        ("progress", {"phase": "agent", "message": "agent replaced (pid 10)"}),
        ("progress", {"replaced": 1, "total": 2}),
        ("progress", {"replaced": 2, "total": 2}),
        ("done", {"agent": 10, "workers": [11, 12], "release_dir": "/srv/r42"}),
    ]
    result = run_reload(serve, title, runtime_dir, script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        f"[eggscripts] reloading {title}: agent replaced (pid 10)",
        f"[eggscripts] reloading {title}: 1/2 replaced",
        f"[eggscripts] reloading {title}: 2/2 replaced",
    ]
    assert lines[3].startswith(f"[eggscripts] {title} reloaded (agent pid 10; app pids 11, 12) in ")
    assert lines[3].endswith("; serving /srv/r42")


def test_reload_failure_is_one_line_with_the_masters_exit_status(
    serve: Any, title: str, runtime_dir: Path
) -> None:
    script = [
        ("accepted", {"pid": 1, "version": "0.0.1", "workers": 2}),
        ("error", {"message": "app/router.py:3: RuntimeError: nope", "replaced": 0, "total": 2}, 4),
    ]
    result = run_reload(serve, title, runtime_dir, script)
    assert result.returncode == 4
    assert "master of " in result.stdout and "runs eggscripts 0.0.1" in result.stdout
    assert result.stderr == (
        f"[eggscripts] error: reload of {title} failed: app/router.py:3: RuntimeError: nope "
        "(0/2 workers run the new code)\n"
    )


def test_reload_connection_lost_and_no_wait(serve: Any, title: str, runtime_dir: Path) -> None:
    result = run_reload(
        serve, title, runtime_dir, [("progress", {"replaced": 0, "total": 2}), "close"]
    )
    assert result.returncode == 1
    assert "closed the control connection" in result.stderr
    result = run_reload(serve, title + "b", runtime_dir, [("done", {"waited": False})], "--no-wait")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"[eggscripts] reload of {title}b requested (not waiting for it)\n"


def test_reload_of_a_title_not_running_exits_3(title: str, runtime_dir: Path) -> None:
    env = cli_env(runtime_dir, XDG_RUNTIME_DIR=str(runtime_dir))
    result = run_cli("reload", f"--title={title}", env=env)
    assert result.returncode == 3
    assert f"no running cluster found with title {title}" in result.stderr


def test_cli_falls_back_from_a_control_dir_that_is_not_private(
    title: str, runtime_dir: Path
) -> None:
    """Never used, never chmod-ed, never a denial of service: one line, then the private
    fallback in the home directory (where no cluster of that title runs: exit 3)."""
    (runtime_dir / "eggscripts").mkdir(mode=0o755)
    (runtime_dir / "eggscripts").chmod(0o755)
    env = cli_env(runtime_dir, XDG_RUNTIME_DIR=str(runtime_dir))
    fallback = Path(env["HOME"]) / ".local/state/eggscripts/run"
    for command in ("status", "scale", "reload"):
        args = [command, f"--title={title}"] + (["2"] if command == "scale" else [])
        result = run_cli(*args, env=env)
        assert result.returncode == 3, (command, result.stderr)
        assert result.stderr.splitlines()[0] == (
            f"[eggscripts] warning: {runtime_dir}/eggscripts has mode 755, not 700; using "
            f"{fallback} instead"
        )
    with contextlib.suppress(OSError):
        (runtime_dir / "eggscripts").rmdir()
