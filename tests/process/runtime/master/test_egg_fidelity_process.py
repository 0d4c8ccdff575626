"""egg fidelity (issue 10): egg-cluster's process-level cases, with real clusters. Each test
names the issue item it pins down."""

from __future__ import annotations

import http.client
import shutil
import signal
import socket
import ssl
import stat
from pathlib import Path

import psutil
import pytest

from tests.cli_helpers import cli_env, everything, make_app, run_cli
from tests.clusters import Cluster, foreground_cluster
from tests.fixtures.apptree import write_tree
from tests.helpers import FIXTURES, UnixHTTPConnection, request, wait_until
from tests.process.eggscripts.test_egg_fidelity_cli import daemon_start

# ---- 3: processes app code started do not survive the cluster --------------------------------

SPAWNING_BOOT = """
import os, subprocess, sys

CHILD = (
    "import signal, sys, time\\n"
    "if sys.argv[1] == 'stubborn':\\n"
    "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
    "time.sleep(120)\\n"
)


class Boot:
    def __init__(self, app):
        self.app = app

    def did_load(self):
        with open(os.path.join(self.app.base_dir, "children.txt"), "a") as fh:
            for kind in ("polite", "stubborn"):
                proc = subprocess.Popen([sys.executable, "-c", CHILD, kind])
                fh.write(f"{proc.pid} {os.getpid()}\\n")
"""


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def children_of(app: Path) -> dict[int, int]:
    """{subprocess pid: pid of the worker or agent that started it}."""
    lines = (app / "children.txt").read_text().splitlines()
    return {int(child): int(parent) for child, parent in (line.split() for line in lines)}


def test_3_subprocesses_of_app_workers_and_agent_are_gone_after_stop(
    tmp_path: Path, title: str, port: int
) -> None:
    app = make_app(tmp_path / "spawner")
    write_tree(app, {"app.py": SPAWNING_BOOT, "agent.py": SPAWNING_BOOT})
    env = cli_env(tmp_path)
    with foreground_cluster(app, title, port, env, workers=1) as fg:
        pids = list(children_of(app))
        assert len(pids) == 4  # two from the agent, two from the app worker
        assert all(alive(pid) for pid in pids)
        result = run_cli("stop", f"--title={title}", env=env)
        assert result.returncode == 0, result.stderr
        assert fg.proc.wait(timeout=20) == 0
    # The stubborn ones ignore SIGTERM and are SIGKILLed after the kill timeout (5 s).
    wait_until(lambda: not any(alive(pid) for pid in pids), timeout=10)
    assert everything(title) == []


def test_3_a_worker_stopped_by_scale_down_takes_its_subprocesses_along(
    tmp_path: Path, title: str, port: int
) -> None:
    app = make_app(tmp_path / "spawner")
    write_tree(app, {"app.py": SPAWNING_BOOT})
    with Cluster(app, title, port, workers=2, kill_app_timeout=2000) as cluster:
        workers = sorted(p.pid for p in cluster.processes()["app"])
        by_worker: dict[int, list[int]] = {}
        for child, parent in children_of(app).items():
            by_worker.setdefault(parent, []).append(child)
        assert sorted(by_worker) == workers
        cluster.signal(signal.SIGTTOU)  # the newest worker is stopped gracefully
        wait_until(lambda: len(cluster.processes()["app"]) == 1, timeout=10)
        (stopped,) = set(workers) - {p.pid for p in cluster.processes()["app"]}
        wait_until(lambda: not any(alive(pid) for pid in by_worker[stopped]), timeout=5)
        (kept,) = set(workers) - {stopped}
        assert all(alive(pid) for pid in by_worker[kept])
        assert cluster.stop()[0] == 0
    wait_until(lambda: not any(alive(pid) for pid in children_of(app)), timeout=5)


# ---- 8: app.logger.error during boot reaches stderr (and fails a daemon start) --------------

LOGGING_BOOT = """
class Boot:
    def __init__(self, app):
        self.app = app

    def did_load(self):
        self.app.logger.warning("a warning never fails the start")
        {error}
"""

LOGGING_ROUTER = """
async def fail(ctx):
    ctx.app.logger.error("runtime error after ready")
    ctx.body = "logged"


def router(app):
    app.router.get("/log", fail)
"""


@pytest.mark.parametrize("error", [True, False], ids=["error", "warning-only"])
def test_8_boot_errors_of_the_app_logger_fail_a_daemon_start(
    tmp_path: Path, title: str, port: int, error: bool
) -> None:
    line = 'self.app.logger.error("database unreachable")' if error else "pass"
    app = make_app(tmp_path / "logger-app")
    write_tree(
        app, {"app.py": LOGGING_BOOT.replace("{error}", line), "app/router.py": LOGGING_ROUTER}
    )
    with daemon_start(tmp_path, app, title, port) as (result, stderr_log):
        if error:
            assert result.returncode == 1, result.stdout + result.stderr
            assert "database unreachable" in result.stderr
            return
        assert result.returncode == 0, result.stderr
        assert "a warning never fails the start" not in stderr_log.read_text()
        # After egg-ready errors go to the log files only.
        assert request(port, "/log").text == "logged"
        logs = tmp_path / "home" / "logs" / title / "common-error.log"  # ~/logs
        wait_until(lambda: "runtime error after ready" in logs.read_text(), timeout=5)
        assert "runtime error after ready" not in stderr_log.read_text()


# ---- 9: a failed boot still closes; a raising did_ready does not fail the start -------------

CLOSING_BOOT = """
import os


class Boot:
    def __init__(self, app):
        self.app = app

    def {hook}(self):
        raise RuntimeError("hook failed")

    def before_close(self):
        with open(os.path.join(self.app.base_dir, "closed.txt"), "a") as fh:
            fh.write(f"{os.getpid()}\\n")
"""


@pytest.mark.parametrize("hook", ["did_load", "did_ready"])
def test_9_boot_failures_in_a_real_worker(tmp_path: Path, title: str, port: int, hook: str) -> None:
    app = make_app(tmp_path / "closing-app")
    write_tree(app, {"app.py": CLOSING_BOOT.replace("{hook}", hook)})
    cluster = Cluster(app, title, port, workers=1)
    if hook == "did_load":
        code, _, err = cluster.start(wait=False).wait(timeout=30)
        assert code != 0 and "Boot.did_load" in err
        assert (app / "closed.txt").read_text().strip()  # before_close ran in the worker
        return
    with cluster:  # starts and waits until ready
        assert request(port, "/").status == 404  # ready and serving
        assert not (app / "closed.txt").exists()
        assert cluster.stop()[0] == 0
    assert (app / "closed.txt").read_text().strip()


# ---- 15: cluster.listen.path -------------------------------------------------------------------


def test_15_listen_path_serves_on_a_unix_socket(tmp_path: Path, title: str) -> None:
    app = make_app(tmp_path / "unix-app")
    write_tree(
        app,
        {
            "config/config.default.py": "config = {'cluster': {'listen': "
            "{'path': 'run/http.sock', 'mode': 0o600}}}",
            "app/router.py": "async def hi(ctx):\n    ctx.body = 'over unix'\n\n\n"
            "def router(app):\n    app.router.get('/', hi)\n",
        },
    )
    sock_path = app / "run" / "http.sock"
    (app / "run").mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))  # a dead cluster's leftover: bound, nobody listens
    stale.close()
    cluster = Cluster(app, title, None, workers=2)
    with cluster:
        assert f" {title} started on {sock_path} " in cluster.output()[0]
        assert stat.S_IMODE(sock_path.stat().st_mode) == 0o600
        conn = UnixHTTPConnection(str(sock_path))
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"over unix")
        conn.close()
        code, _, _ = cluster.stop()
        assert code == 0
    assert not sock_path.exists()


# ---- 16: cluster.https from the app config ---------------------------------------------------


def test_16_cluster_https_from_app_config(tmp_path: Path, title: str, port: int) -> None:
    app = make_app(tmp_path / "tls-app")
    for name in ("key.pem", "cert.pem"):
        shutil.copy(FIXTURES / "cli_https" / name, app / name)
    write_tree(
        app,
        {
            "config/config.default.py": "config = {'cluster': {'https': "
            "{'key': 'key.pem', 'cert': 'cert.pem'}}}",
        },
    )
    with Cluster(app, title, port, workers=1) as cluster:
        assert f" {title} started on https://127.0.0.1:{port} " in cluster.output()[0]
        context = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
        conn.request("GET", "/")
        assert conn.getresponse().status == 404
        conn.close()


def test_16_cluster_https_missing_file_fails_naming_the_config(
    tmp_path: Path, title: str, port: int
) -> None:
    app = make_app(tmp_path / "tls-bad")
    write_tree(
        app,
        {
            "config/config.default.py": "config = {'cluster': {'https': "
            "{'key': 'nope.pem', 'cert': 'nope.pem'}}}",
        },
    )
    cluster = Cluster(app, title, port, workers=1).start(wait=False)
    code, _, err = cluster.wait(timeout=30)
    assert code != 0
    assert "config.default.py: cluster.https.key file not found" in err, err


# ---- 23: $HOST in the "started on" URL -----------------------------------------------------


def test_23_host_env_names_the_url_of_a_wildcard_bind(
    tmp_path: Path, title: str, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOST", "eggs.example")
    app = make_app(tmp_path / "host-app")
    with Cluster(app, title, port, workers=1, hostname=None) as cluster:
        assert f" {title} started on http://eggs.example:{port} " in cluster.output()[0]
