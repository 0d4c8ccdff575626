"""`eggscripts reload --upgrade` and SIGUSR2 end to end (issue 19 item 3): a new master
takes over the same listening socket, title, lock and control socket; the old one drains
and exits; a new master that cannot boot leaves the old one serving.

The "old" master reports version 0.0.1 (`EGGSCRIPTS_TEST_MASTER_VERSION`, which a master
takes out of its environment), so `status` shows the new master's real version after.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from eggscripts import __version__
from runtime.contract import paths
from tests.cli_helpers import EGGSCRIPTS, run_cli, status_json
from tests.clusters import Cluster
from tests.helpers import cluster_processes, free_port, request, wait_until
from tests.load import keepalive
from tests.process.runtime.master.test_reload import release

OLD_VERSION = "0.0.1"


@dataclasses.dataclass
class Old:
    port: int
    app: Path
    pid: int  # the old master's


@pytest.fixture
def old(tmp_path: Path, started: Any, env: dict[str, str], title: str) -> Old:
    """A cluster whose master says it runs eggscripts 0.0.1; `env` is the CLI's after."""
    port = free_port()
    app = release(tmp_path, "app", "one")
    env["EGGSCRIPTS_TEST_MASTER_VERSION"] = OLD_VERSION
    started(app, title, port=port)
    del env["EGGSCRIPTS_TEST_MASTER_VERSION"]
    return Old(port, app, masters(title)[0])


def masters(title: str) -> list[int]:
    return [p.pid for p in cluster_processes(title)["master"]]


def lock_pid(title: str) -> int:
    """The pid written in the title lock, next to the control socket (the tests' CLI and
    this process see the same XDG_RUNTIME_DIR/TMPDIR)."""
    path = paths.lock_path(title, paths.find_dir().directory)
    return int(Path(path).read_text().strip())


def upgraded(title: str, old: int, port: int, env: dict[str, str]) -> dict[str, Any]:
    """Once the old master is gone: the new one owns everything, on the same port."""
    wait_until(lambda: not psutil.pid_exists(old) or None, 30)
    doc = status_json(title, env)
    new = masters(title)
    assert len(new) == 1 and new[0] != old, new
    assert doc["master_pid"] == new[0], doc
    assert doc["version"] == __version__, doc
    assert lock_pid(title) == new[0]
    assert request(port, "/").body == b"one"
    return doc


@pytest.mark.timeout(120)
def test_reload_upgrade_under_load_fails_no_request(
    old: Old, env: dict[str, str], title: str
) -> None:
    port = old.port
    assert status_json(title, env)["version"] == OLD_VERSION
    old_apps = {p.pid for p in cluster_processes(title)["app"]}
    during: dict[str, float] = {}
    load = threading.Thread(target=lambda: during.update(keepalive(port, 8)))
    load.start()
    time.sleep(1)
    began = time.monotonic()
    result = subprocess.run(
        [EGGSCRIPTS, "reload", "--upgrade", f"--title={title}"], env=env, capture_output=True,
        text=True, timeout=60, start_new_session=True,
    )  # fmt: skip
    took = time.monotonic() - began
    load.join()
    print(f"upgrade took {took:.2f}s; load during: {during}; {result.stdout.strip()}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "upgraded" in result.stdout and f"eggscripts {__version__}" in result.stdout
    assert during["failed"] == 0, during
    assert during["done"] > 500, during
    upgraded(title, old.pid, port, env)
    apps = {p.pid for p in cluster_processes(title)["app"]}
    assert len(apps) == 2 and not apps & old_apps
    ptitle = " ".join(psutil.Process(masters(title)[0]).cmdline())
    assert f"--title={title}" in ptitle and f"--port={port}" in ptitle
    stop = run_cli("stop", f"--title={title}", env=env)
    assert stop.returncode == 0, stop.stderr
    assert not any(cluster_processes(title).values())


@pytest.mark.timeout(120)
def test_sigusr2_upgrades_the_same_way(old: Old, env: dict[str, str], title: str) -> None:
    os.kill(old.pid, signal.SIGUSR2)
    upgraded(title, old.pid, old.port, env)


@pytest.mark.timeout(120)
def test_no_wait_returns_once_the_new_master_is_started(
    old: Old, env: dict[str, str], title: str
) -> None:
    result = run_cli("reload", "--upgrade", "--no-wait", f"--title={title}", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"upgrade of {title} started (not waiting for it)")
    upgraded(title, old.pid, old.port, env)


@pytest.mark.timeout(120)
def test_a_new_master_that_cannot_boot_leaves_the_old_one_serving(
    old: Old, env: dict[str, str], title: str
) -> None:
    port, app = old.port, old.app
    old_apps = {p.pid for p in cluster_processes(title)["app"]}
    (app / "app" / "router.py").write_text("def router(app:\n")  # the new code is broken
    result = run_cli("reload", "--upgrade", f"--title={title}", env=env, timeout=60)
    assert result.returncode == 4, result.stdout + result.stderr  # the new code failed to load
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "upgrade of" in lines[0] and "router.py" in lines[0], lines
    assert "keeps serving" in lines[0]
    wait_until(lambda: masters(title) == [old.pid] or None, 20)
    assert {p.pid for p in cluster_processes(title)["app"]} == old_apps
    assert request(port, "/").body == b"one"
    doc = status_json(title, env)
    assert doc["master_pid"] == old.pid and doc["state"] == "ready", doc
    assert lock_pid(title) == old.pid


def notifications(sock: socket.socket, until: Any, timeout: float = 20.0) -> list[tuple[int, str]]:
    """(sender pid, datagram) as systemd sees them (SO_PASSCRED), until `until(pid, text)`."""
    got: list[tuple[int, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = next(struct.unpack("3i", d)[0] for lvl, kind, d in ancillary if kind == SCM_CREDS)
        got.append((pid, data.decode()))
        if until(pid, data.decode()):
            return got
    raise AssertionError(f"no such notification in {got}")


SCM_CREDS = getattr(socket, "SCM_CREDENTIALS", 2)


@pytest.mark.timeout(60)
def test_under_systemd_the_new_master_becomes_the_main_pid(tmp_path: Path, title: str) -> None:
    """`Type=notify`, `NotifyAccess=main`: the old master says `MAINPID=`, then only the
    new one speaks (`READY=1`, and `STOPPING=1` at its own stop)."""
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    systemd.bind(str(tmp_path / "notify.sock"))
    port = free_port()
    cluster = Cluster(release(tmp_path, "app", "one"), title, port)
    cluster.env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    cluster.start(wait=False)
    assert cluster.proc is not None
    old = cluster.proc.pid
    new: int | None = None
    try:
        notifications(systemd, lambda pid, text: "READY=1" in text)
        os.kill(old, signal.SIGUSR2)
        got = notifications(systemd, lambda pid, text: pid != old and "READY=1" in text)
        mainpid = [(pid, text) for pid, text in got if text.startswith("MAINPID=")]
        assert len(mainpid) == 1 and mainpid[0][0] == old, got
        assert got[0][0] == old and got[0][1].startswith("RELOADING=1\nMONOTONIC_USEC="), got
        new = int(mainpid[0][1].split("\n")[0].removeprefix("MAINPID="))
        assert got[-1][0] == new and new in masters(title)
        after = got[got.index(mainpid[0]) + 1 :]
        assert all(pid == new for pid, _ in after), got  # the old master drains silently
        code, _, err = cluster.wait(20)
        assert code == 0, err
        assert request(port, "/").body == b"one"
        os.kill(new, signal.SIGTERM)
        notifications(systemd, lambda pid, text: pid == new and "STOPPING=1" in text)
        wait_until(lambda: not cluster_processes(title)["master"] or None, 20)
    finally:
        cluster.stop()
        if new is not None and psutil.pid_exists(new):
            os.kill(new, signal.SIGKILL)
        systemd.close()


@pytest.mark.timeout(120)
def test_the_health_port_is_handed_over_too(
    tmp_path: Path, started: Any, env: dict[str, str], title: str
) -> None:
    port, health = free_port(), free_port()
    started(release(tmp_path, "app", "one"), title, f"--health-port={health}", port=port)
    old = masters(title)[0]
    probes: list[int] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            try:
                probes.append(request(health, "/readyz").status)
            except OSError:  # refused, reset: what a kubelet would count as a failure
                probes.append(-1)
            time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        result = run_cli("reload", "--upgrade", f"--title={title}", env=env, timeout=60)
        wait_until(lambda: not psutil.pid_exists(old) or None, 30)
    finally:
        done.set()
        prober.join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(probes) > 10 and set(probes) == {200}, probes
    assert request(health, "/readyz").status == 200
    assert masters(title) != [old]


@pytest.mark.timeout(60)
def test_a_unix_socket_keeps_its_file_through_the_upgrade(tmp_path: Path, title: str) -> None:
    """`cluster.listen.path`: the old master must not remove the file the new one serves
    on; the new one removes it when it stops."""
    from tests.helpers import UnixHTTPConnection

    app = release(tmp_path, "app", "one")
    (app / "config").mkdir()
    (app / "config" / "config.default.py").write_text(
        "config = {'cluster': {'listen': {'path': 'run/http.sock'}}}"
    )
    (app / "run").mkdir()
    path = app / "run" / "http.sock"

    def get() -> bytes:
        conn = UnixHTTPConnection(str(path))
        conn.request("GET", "/")
        body = conn.getresponse().read()
        conn.close()
        return body

    with Cluster(app, title, None, workers=1) as cluster:
        assert cluster.proc is not None
        old = cluster.proc.pid
        os.kill(old, signal.SIGUSR2)
        code, _, err = cluster.wait(30)
        assert code == 0, err
        (new,) = masters(title)
        assert path.is_socket() and get() == b"one"
        os.kill(new, signal.SIGTERM)
        wait_until(lambda: not psutil.pid_exists(new) or None, 20)
    assert not path.exists()


@pytest.mark.timeout(120)
def test_an_upgrade_follows_a_switched_release_symlink(
    tmp_path: Path, started: Any, env: dict[str, str], title: str
) -> None:
    """A deploy that switches `current` and upgrades eggscripts at once: one command."""
    current = tmp_path / "current"
    current.symlink_to(release(tmp_path, "r1", "one"))
    port = free_port()
    started(current, title, port=port)
    old = masters(title)[0]
    current.unlink()
    current.symlink_to(release(tmp_path, "r2", "two"))
    result = run_cli("reload", "--upgrade", f"--title={title}", env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    wait_until(lambda: not psutil.pid_exists(old) or None, 30)
    assert request(port, "/").body == b"two"
    assert status_json(title, env)["release_dir"] == str(tmp_path / "r2")
