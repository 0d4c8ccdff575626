"""Logs where operators want them: `logger.dir` moves every file of the cluster:
the cases with real processes (the others are in tests/unit/runtime/test_logs.py)."""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

from tests.clusters import Cluster
from tests.fixtures.apptree import write_tree
from tests.helpers import request, wait_until
from tests.unit.runtime.test_logs import home_fixture  # noqa: F401 (the `home` fixture)

APP = {
    "pyproject.toml": '[project]\nname = "logapp"\n',
    "app/router.py": "def router(app):\n    app.router.get('/', app.controller.home.index)\n",
    "app/controller/home.py": (
        "async def index(ctx):\n"
        "    ctx.logger.info('served %s', ctx.path)\n"
        "    ctx.logger.error('an error line')\n"
        "    ctx.body = 'ok'\n"
    ),
    "agent.py": (
        "import logging, warnings\n\n"
        "class Boot:\n    def __init__(self, agent):\n        self.agent = agent\n\n"
        "    def did_load(self):\n"
        "        warnings.warn('old api', UserWarning, stacklevel=1)\n"
        "        logging.getLogger('agentcode').info('agent loaded')\n"
    ),
    "config/config.prod.py": "config = {'logger': {'dir': 'var/log/here'}}\n",
}


FILES = {"master.log", "egg-agent.log", "logapp-web.log", "common-error.log"}


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def test_logger_dir_from_the_config_holds_every_log_file(
    tmp_path: Path, home: Path, title: str, port: int
) -> None:
    app = write_tree(tmp_path / "app", APP)
    cluster = Cluster(app, title, port, workers=2, log_format="json").start(wait=False)
    try:  # stdout is JSON lines too (a container's log collector reads them)
        wait_until(lambda: f'"{title} started on ' in cluster.output()[0], timeout=15)
        assert request(port, "/").text == "ok"
        where = app / "var" / "log" / "here"
        wait_until(lambda: "served /" in _read(where / "logapp-web.log"))
    finally:
        rc, _, err = cluster.stop()
    assert rc == 0
    assert err == ""  # the warning went to the logs, not to stderr
    assert {p.name for p in where.iterdir()} == FILES
    assert not (home / "logs").exists() and not (app / "logs").exists()
    assert stat.S_IMODE(where.stat().st_mode) == 0o700
    assert stat.S_IMODE((where / "master.log").stat().st_mode) == 0o600
    lines = [json.loads(line) for f in FILES for line in _read(where / f).splitlines()]
    assert {"time", "level", "pid", "role", "worker", "logger", "message"} <= set(lines[0])
    roles = {(e["role"], e["worker"]) for e in lines}
    assert {("master", None), ("agent", None)} <= roles
    assert {("app", 1), ("app", 2)} & roles
    agent = [e for e in lines if e["role"] == "agent"]
    assert any("old api" in e["message"] and e["logger"] == "py.warnings" for e in agent)
    assert any(e["message"] == "agent loaded" for e in agent)
    started = [e for e in lines if e["role"] == "master" and " started on " in e["message"]]
    assert started, "master lines held until agent-start reached the configured dir"
    errors = [json.loads(line) for line in _read(where / "common-error.log").splitlines()]
    assert errors and all(e["level"] == "ERROR" for e in errors)
    assert (app / "run" / "application_config.json").exists()


def test_default_dir_is_home_outside_local(
    tmp_path: Path, home: Path, title: str, port: int
) -> None:
    files = {k: v for k, v in APP.items() if not k.startswith("config/")}
    app = write_tree(tmp_path / "app", files)
    with Cluster(app, title, port, workers=1):
        request(port, "/")
        wait_until(lambda: "served /" in _read(home / "logs" / title / "logapp-web.log"))
    assert {p.name for p in (home / "logs" / title).iterdir()} == FILES


def test_sigusr1_reopens_moved_files_in_the_workers(
    tmp_path: Path, home: Path, title: str, port: int
) -> None:
    """logrotate's `postrotate`: after `mv`, every process writes to new files. (The
    master's own SIGUSR1 handler forwards it; here each child gets it directly.)"""
    app = write_tree(tmp_path / "app", APP)
    where = app / "var" / "log" / "here"
    with Cluster(app, title, port, workers=1) as cluster:
        request(port, "/")
        wait_until(lambda: "served /" in _read(where / "logapp-web.log"))
        for name in FILES:
            os.rename(where / name, where / f"{name}.1")
        children = cluster.processes()["app"] + cluster.processes()["agent"]
        for proc in children:
            proc.send_signal(signal.SIGUSR1)
        wait_until(lambda: (where / "logapp-web.log").exists())
        request(port, "/")
        wait_until(lambda: "served /" in _read(where / "logapp-web.log"))
        assert all(p.is_running() for p in children)  # SIGUSR1 no longer kills
    assert "served /" in _read(where / "logapp-web.log.1")
    assert "an error line" in _read(where / "common-error.log")


def test_foreground_local_shows_app_lines_and_tracebacks(
    tmp_path: Path, home: Path, title: str, port: int
) -> None:
    files = dict(APP)
    files["app/controller/home.py"] += (
        "\n\nasync def boom(ctx):\n    raise KeyError('no such thing')\n"
    )
    files["app/router.py"] += "    app.router.get('/boom', app.controller.home.boom)\n"
    app = write_tree(tmp_path / "app", files)
    with Cluster(app, title, port, workers=1, env="local") as cluster:
        request(port, "/")
        assert request(port, "/boom").status == 500
        wait_until(lambda: "KeyError: 'no such thing'" in cluster.output()[0])
        out = cluster.output()[0]
    assert "[app_worker#1] [127.0.0.1 GET /] served /" in out
    assert "Traceback (most recent call last)" in out
    assert (app / "logs" / title / "logapp-web.log").exists()  # local: under BASE_DIR


def test_foreground_prod_json_stdout_has_the_app_errors_and_json_access_lines(
    tmp_path: Path, home: Path, title: str, port: int
) -> None:
    """A container runs the cluster in the foreground with env prod: `kubectl logs` reads
    stdout only, so the traceback of a failed request is there, and every line (the
    access log included) is one JSON object."""
    files = dict(APP)
    files["app/controller/home.py"] += (
        "\n\nasync def boom(ctx):\n    raise KeyError('no such thing')\n"
    )
    files["app/router.py"] += "    app.router.get('/boom', app.controller.home.boom)\n"
    app = write_tree(tmp_path / "app", files)
    cluster = Cluster(app, title, port, workers=1, log_format="json", access_log=True)
    cluster.start(wait=False)
    try:
        wait_until(lambda: f'"{title} started on ' in cluster.output()[0], timeout=15)
        assert request(port, "/boom").status == 500
        wait_until(lambda: "GET /boom HTTP/1.1" in cluster.output()[0])
        wait_until(lambda: "no such thing" in cluster.output()[0])
        out = cluster.output()[0]
    finally:
        cluster.stop()
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    failed = [e for e in entries if "KeyError: 'no such thing'" in e.get("exception", "")]
    assert failed and failed[0]["role"] == "app" and failed[0]["level"] == "ERROR"
    access = [e for e in entries if e["logger"] == "eggscripts.access"]
    assert access and '"GET /boom HTTP/1.1" 500' in access[0]["message"]
