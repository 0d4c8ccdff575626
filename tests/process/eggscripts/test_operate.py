"""Operating running clusters: `status`, `scale`, `stop` without a
title, and the control channel's privacy, against real daemon clusters.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from runtime.contract import paths
from tests.cli_helpers import EGGSCRIPTS, cli_env, everything, make_app, run_cli, status_json
from tests.helpers import cluster_processes, free_port, request, wait_until


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return make_app(tmp_path / "app", name="operated")


def ps_view(title: str) -> set[tuple[str, int]]:
    return {(role, p.pid) for role, procs in cluster_processes(title).items() for p in procs}


def status_view(cluster: dict[str, Any]) -> set[tuple[str, int]]:
    return {(p["role"], p["pid"]) for p in cluster["processes"]}


def test_status_lists_exactly_what_ps_shows(
    app: Path, started: Any, env: dict[str, str], title: str
) -> None:
    port = free_port()
    started(app, title, "--worker-timeout=2000", port=port)  # heartbeats every second
    for _ in range(10):
        request(port, "/")
    # The counters ride on heartbeats: served requests show up within a beat.
    wait_until(
        lambda: sum(p["requests"] or 0 for p in status_json(title, env)["processes"]) >= 10,
        timeout=10,
    )
    cluster = status_json(title, env)
    assert status_view(cluster) == ps_view(title)
    assert cluster["state"] == "ready" and cluster["workers"] == 2
    assert cluster["base_dir"] == str(app) and cluster["release_dir"] == str(app.resolve())
    assert cluster["env"] == "prod" and cluster["source"] == "master"
    assert cluster["url"].startswith("http://127.0.0.1:")
    roles = sorted((p["role"], p["id"]) for p in cluster["processes"])
    assert roles == [("agent", 1), ("app", 1), ("app", 2), ("master", None)]
    for row in cluster["processes"]:
        assert row["rss"] > 1_000_000 and row["cpu"] >= 0 and row["age"] >= 0
        if row["role"] == "app":
            assert row["state"] == "serving" and row["restarts"] == 0
            assert isinstance(row["requests"], int) and isinstance(row["inflight"], int)
            assert 0 <= row["heartbeat_age"] < 60

    # A worker SIGKILLed: its replacement shows up, the dead one does not.
    victim_row = next(p for p in cluster["processes"] if p["role"] == "app")
    victim = victim_row["pid"]
    os.kill(victim, signal.SIGKILL)

    def replaced() -> dict[str, Any] | None:
        now = status_json(title, env)
        apps = [p for p in now["processes"] if p["role"] == "app"]
        serving = [p for p in apps if p["state"] == "serving" and p["pid"] != victim]
        return now if len(apps) == 2 and len(serving) == 2 else None

    cluster = wait_until(replaced, timeout=15)
    wait_until(lambda: ps_view(title) == status_view(status_json(title, env)), timeout=5)
    assert victim not in {pid for _, pid in ps_view(title)}
    # The replacement holds the dead worker's id; that slot counts one restart, with why.
    rows = {p["id"]: p for p in status_json(title, env)["processes"] if p["role"] == "app"}
    heir = rows[victim_row["id"]]
    assert heir["pid"] != victim and heir["restarts"] == 1, heir
    assert "SIGKILL" in heir["last_restart_cause"], heir
    other = next(row for worker_id, row in rows.items() if worker_id != victim_row["id"])
    assert other["restarts"] == 0 and other["last_restart_cause"] is None


def test_status_table_and_not_running(
    app: Path, started: Any, env: dict[str, str], title: str
) -> None:
    started(app, title)
    result = run_cli("status", f"--title={title}", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{title}  ready  http://127.0.0.1:")
    assert lines[1] == f"base dir {app}"
    header = lines[2].split()
    assert header[:4] == ["ROLE", "ID", "PID", "STATE"]
    assert [ln.split()[0] for ln in lines[3:]] == ["master", "agent", "app", "app"]
    # Columns are aligned: every row is as wide as the header's column starts suggest.
    starts = [lines[2].index(name) for name in ("PID", "STATE", "AGE")]
    for line in lines[3:]:
        assert line[starts[1]] != " ", line  # STATE is left-aligned under its header

    result = run_cli("status", "--title=nope", env=env)
    assert result.returncode == 3
    assert result.stdout.startswith("[eggscripts] no running cluster found with title nope (")
    assert title in result.stdout  # the titles that do run are listed
    result = run_cli("status", "--title=nope", "--json", env=env)
    assert result.returncode == 3 and json.loads(result.stdout)["clusters"] == []


class Load:
    """A client thread: one request per new connection, as fast as it goes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sent = 0
        self.failures: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        while not self.done.is_set():
            try:
                if request(self.port, "/", timeout=5).status != 404:  # the app has no routes
                    self.failures.append("status")
            except OSError as exc:
                self.failures.append(repr(exc))
            self.sent += 1

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(10)


def test_scale_up_and_down(app: Path, started: Any, env: dict[str, str], title: str) -> None:
    port = free_port()
    started(app, title, port=port)
    took = []
    with Load(port) as load:
        for count, text, after in (("4", "from 2 to 4", 4), ("-3", "from 4 to 1", 1),
                                   ("+1", "from 1 to 2", 2)):  # fmt: skip
            began = time.monotonic()
            result = run_cli("scale", f"--title={title}", count, env=env)
            # The command returns once the count is reached (and the drained ones are gone).
            took.append(time.monotonic() - began)
            assert result.returncode == 0, result.stderr
            assert result.stdout.startswith(f"[eggscripts] scaled {title} {text} app workers")
            assert len(cluster_processes(title)["app"]) == after
    assert load.sent > 10 and load.failures == [], load.failures[:3]
    # Target: within 2 s (0.2-0.4 s measured here, CLI start included); a generous bound
    # for a machine shared with other jobs.
    assert max(took) < 6, took
    assert status_json(title, env)["workers"] == 2
    for bad, code in (("0", 2), ("x", 2), ("-5", 2)):
        result = run_cli("scale", f"--title={title}", bad, env=env)
        assert result.returncode == code, (bad, result.stdout, result.stderr)
    result = run_cli("scale", "--title=nope", "2", env=env)
    assert result.returncode == 3


def test_scaling_down_under_load_fails_no_request(
    app: Path, started: Any, env: dict[str, str], title: str
) -> None:
    port = free_port()
    """A draining worker stops accepting before it closes idle connections, so none it
    accepted an instant earlier is reset (before: ~1 failure in 5000 requests here)."""
    started(app, title, "--workers=4", port=port)
    with Load(port) as first, Load(port) as second:
        for count in ("-2", "+2") * 4:
            result = run_cli("scale", f"--title={title}", count, env=env)
            assert result.returncode == 0, result.stderr
    assert first.sent + second.sent > 100
    assert first.failures == [] and second.failures == []


def test_stop_without_title_uses_the_app_here_or_refuses(
    tmp_path: Path, started: Any, env: dict[str, str], title: str
) -> None:
    app = make_app(tmp_path / "here", name=title)  # default title: egg-server-<title>
    other = started(make_app(tmp_path / "other"), f"{title}-other")
    mine = started(app, f"egg-server-{title}")
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    before = everything(other), everything(mine)
    result = run_cli("stop", env=env, cwd=nowhere)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"[eggscripts] error: no app in {nowhere} (no pyproject.toml, app/ or config/) to "
        "take a title from: give --title=TITLE or --all, e.g. eggscripts stop --title=TITLE"
    ]
    assert (everything(other), everything(mine)) == before
    for command in ("status", "scale", "reload"):
        args = [command, "2"] if command == "scale" else [command]
        assert run_cli(*args, env=env, cwd=nowhere).returncode == 2, command
    assert run_cli("status", env=env, cwd=app).returncode == 0
    result = run_cli("stop", env=env, cwd=app)
    assert result.returncode == 0, result.stderr
    assert f"stopped egg-server-{title} " in result.stdout
    assert everything(mine) == [] and everything(other) == before[0]
    result = run_cli("stop", "--title=nope", env=env)
    assert result.returncode == 0
    assert result.stdout.startswith("[eggscripts] no running cluster found with title nope (")
    assert f"{title}-other" in result.stdout
    assert run_cli("stop", "--all", f"--title={title}", env=env).returncode == 2


def fd_inodes(pid: int) -> set[int]:
    links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    return {int(link[8:-1]) for link in links if link.startswith("socket:[")}


def test_title_completes_running_clusters(
    app: Path, started: Any, env: dict[str, str], title: str
) -> None:
    started(app, title)
    for command in ("stop", "status", "reload", "scale"):
        words = f"eggscripts {command} --title {title[:-3]}"
        complete = {**env, "_EGGSCRIPTS_COMPLETE": "bash_complete", "COMP_WORDS": words,
                    "COMP_CWORD": "3"}  # fmt: skip
        result = subprocess.run([EGGSCRIPTS], env=complete, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [f"plain,{title}"], command


def unix_inode(path: str) -> int:
    with open("/proc/net/unix") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 8 and parts[7] == path:
                return int(parts[6])
    raise AssertionError(f"{path} is not a listening Unix socket")


def test_workers_hold_no_control_fd_and_a_killed_masters_socket_is_cleared(
    app: Path, started: Any, env: dict[str, str], title: str
) -> None:
    started(app, title)
    path = paths.socket_path(title, paths.find_dir().directory)
    procs = cluster_processes(title)
    # The kernel lists a socket under the name it was bound to: the master binds a
    # private temporary name and links the final one to it (control_socket.py).
    inode = unix_inode(os.path.join(os.path.dirname(path), f".{procs['master'][0].pid}.tmp"))
    assert inode in fd_inodes(procs["master"][0].pid)
    for proc in procs["app"] + procs["agent"]:
        assert inode not in fd_inodes(proc.pid), proc.pid
    procs["master"][0].kill()
    wait_until(lambda: everything(title) == [], timeout=10)
    assert os.path.exists(path)  # what a SIGKILLed master leaves behind
    result = run_cli("status", f"--title={title}", env=env)
    assert result.returncode == 3
    assert not os.path.exists(path)  # stale: removed by the client that found it
    started(app, title)  # and the title starts again
    assert status_json(title, env)["state"] == "ready"


@pytest.fixture
def other_user() -> Iterator[pwd.struct_passwd]:
    if os.getuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("needs root, useradd and setpriv to act as another user")
    name = f"egg{os.getpid() % 100000}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/false", name], check=True)
    try:
        user = pwd.getpwnam(name)
        probe = as_user(user, Path("/"), "--version")
        if probe.returncode != 0:  # e.g. a checkout under a 0700 directory (mktemp -d)
            pytest.skip(f"another user cannot run this checkout's CLI: {probe.stderr.strip()}")
        yield user
    finally:
        subprocess.run(["userdel", name], check=False)


def as_user(user: pwd.struct_passwd, home: Path, *args: str, **env: str) -> Any:
    """The installed `eggscripts`, run as `user` (when the checkout is readable by them)."""
    environment = {**cli_env(home), **env}
    return subprocess.run(
        ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
         EGGSCRIPTS, *args],
        env=environment, capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip


def test_another_user_can_neither_connect_nor_stop_nor_scale(
    app: Path, started: Any, env: dict[str, str], title: str, other_user: Any
) -> None:
    started(app, title)
    before = everything(title)
    path = paths.socket_path(title, paths.find_dir().directory)
    theirs = Path(tempfile.mkdtemp(prefix="eggscripts-other-"))
    os.chown(theirs, other_user.pw_uid, other_user.pw_gid)
    ours = Path(tempfile.mkdtemp(prefix="eggscripts-xdg-"))
    ours.chmod(0o755)
    (ours / "eggscripts").mkdir(mode=0o700)
    try:
        connect = subprocess.run(
            ["setpriv", f"--reuid={other_user.pw_uid}", f"--regid={other_user.pw_gid}",
             "--clear-groups", sys.executable, "-c",
             "import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])", path],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        assert connect.returncode != 0 and "PermissionError" in connect.stderr
        stop = as_user(other_user, theirs, "stop", f"--title={title}")
        assert stop.returncode == 0, stop.stderr
        assert "no running cluster found" in stop.stdout
        scale = as_user(other_user, theirs, "scale", f"--title={title}", "3")
        assert scale.returncode == 3, scale.stderr
        reload = as_user(other_user, theirs, "reload", f"--title={title}")
        assert reload.returncode == 3, reload.stderr
        # A control directory that is not theirs is not used: one line, then their private
        # fallback, where no cluster of that title runs.
        scale = as_user(other_user, theirs, "scale", f"--title={title}", "3",
                        XDG_RUNTIME_DIR=str(ours))  # fmt: skip
        assert scale.returncode == 3
        assert scale.stderr.splitlines()[0] == (
            f"[eggscripts] warning: {ours}/eggscripts belongs to uid 0, not to you; using "
            f"{theirs}/.local/state/eggscripts/run instead"
        )
    finally:
        shutil.rmtree(theirs, ignore_errors=True)
        shutil.rmtree(ours, ignore_errors=True)
    assert everything(title) == before
    assert status_json(title, env)["workers"] == 2
    assert psutil.pid_exists(before[0])


def test_base_dir_is_compared_with_symlinks_resolved(
    tmp_path: Path, started: Any, env: dict[str, str], title: str
) -> None:
    """A cluster started from `current` (a symlink to a release) is stopped by
    the release's real path, and the other way round."""
    release = make_app(tmp_path / "releases" / "42", name="released")
    current = tmp_path / "current"
    current.symlink_to(release)
    started(current, title)
    assert status_json(title, env)["release_dir"] == str(release)
    result = run_cli("stop", str(release), env=env)
    assert result.returncode == 0, result.stderr
    assert f"stopped {title} " in result.stdout and everything(title) == []
    started(release, title)
    result = run_cli("stop", str(current), env=env)
    assert result.returncode == 0 and f"stopped {title} " in result.stdout
