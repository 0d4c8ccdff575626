"""The early start (eggscripts/launching/early_start.py, runtime/process/warm_start.py):
`start` forks at its first line and the master's interpreter imports while the CLI parses.
What a user sees must not change: the foreground master keeps the pid the user started,
runs in BASE_DIR, owns only its children; a --daemon master has the logs as its stdout
and stderr; a wrong guess (daemon from pyproject.toml) still starts a daemon; a variable
the interpreter reads as it starts (TZ) still reaches the master; a SIGTERM sent before
the launch is taken starts nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.cli_helpers import EGGSCRIPTS, copy_app, make_app, master_of, run_cli
from tests.clusters import Foreground, start_daemon
from tests.helpers import SHOWCASE, cluster_processes, request, wait_until


def test_the_foreground_master_is_the_started_process_in_base_dir(
    tmp_path: Path, title: str, port: int, env: dict[str, str]
) -> None:
    app = copy_app(SHOWCASE, tmp_path)
    cluster = Foreground(
        f"--title={title}", f"--port={port}", "--hostname=127.0.0.1", "--workers=2", str(app),
        title=title, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert cluster.wait_ready(), cluster.output()
        master = psutil.Process(cluster.pid)
        assert master.cmdline()[0].startswith(f"eggscripts-master --title={title} ")
        assert master.cwd() == str(app)
        children = master.children()
        assert len(children) == 3, children  # the agent and 2 workers: the CLI is reaped
        assert all(c.status() != psutil.STATUS_ZOMBIE for c in children)
        assert request(port, "/").text == "hello world"
    finally:
        assert cluster.stop() == 0
        cluster.close()


def test_a_daemon_master_writes_to_its_logs_and_is_the_pid_reported(
    tmp_path: Path, title: str, port: int, env: dict[str, str]
) -> None:
    app = copy_app(SHOWCASE, tmp_path)
    logs = tmp_path / "logs"
    result = start_daemon(
        f"--stdout={logs}/out.log", f"--stderr={logs}/err.log", str(app),
        title=title, port=port, env=env,
    )  # fmt: skip
    try:
        assert result.returncode == 0, result.stderr
        master = master_of(title)
        assert f"(master pid {master.pid})" in result.stdout
        assert os.readlink(f"/proc/{master.pid}/fd/1") == str(logs / "out.log")
        assert os.readlink(f"/proc/{master.pid}/fd/2") == str(logs / "err.log")
        assert master.cwd() == str(app)
        assert "started on" in (logs / "out.log").read_text()
    finally:
        assert run_cli("stop", f"--title={title}", env=env).returncode == 0


def test_a_daemon_asked_by_pyproject_toml_is_started_by_the_cli_again(
    tmp_path: Path, title: str, port: int, env: dict[str, str]
) -> None:
    """No --daemon on the command line: the early start guessed a foreground master; the
    master runs the command line again, as a plain start, which detaches and returns."""
    app = make_app(tmp_path / "shop", tool="daemon = true\nworkers = 1")
    assert app.name == "shop"
    result = subprocess.run(  # BASE_DIR relative: the second run is in the same directory
        [EGGSCRIPTS, "start", f"--title={title}", f"--port={port}", "--hostname=127.0.0.1",
         "shop"],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert result.returncode == 0, result.stderr
        assert f"{title} started on" in result.stdout
        assert result.stdout.count("starting") == 1  # one start printed, not two
        assert len(cluster_processes(title)["app"]) == 1
    finally:
        assert run_cli("stop", f"--title={title}", env=env).returncode == 0


def test_a_variable_read_at_interpreter_start_reaches_the_master(
    tmp_path: Path, title: str, port: int, env: dict[str, str]
) -> None:
    """TZ from --env-file: the early-started interpreter cannot take it, so it execs the
    launch; the master's log timestamps are Tokyo's."""
    app = copy_app(SHOWCASE, tmp_path)
    env_file = tmp_path / "tokyo.env"
    env_file.write_text("TZ=Asia/Tokyo\n")
    cluster = Foreground(
        f"--title={title}", f"--port={port}", "--hostname=127.0.0.1", "--workers=1",
        f"--env-file={env_file}", str(app), title=title,
        env={k: v for k, v in env.items() if k != "TZ"},  # set, it would win over the file
    )  # fmt: skip
    try:
        assert cluster.wait_ready(), cluster.output()
        utc_hour = time.gmtime().tm_hour
        line = next(ln for ln in cluster.output()[0].splitlines() if "[master]" in ln)
        hour = int(re.match(r"\d{4}-\d\d-\d\d (\d\d):", line).group(1))  # type: ignore[union-attr]
        assert hour in {(utc_hour + 9) % 24, (utc_hour + 10) % 24}, line
    finally:
        assert cluster.stop() == 0
        cluster.close()


def test_sigterm_before_the_launch_is_taken_starts_nothing(
    tmp_path: Path, title: str, port: int, env: dict[str, str]
) -> None:
    for delay in (0.005, 0.03, 0.06):
        proc = subprocess.Popen(
            [EGGSCRIPTS, "start", f"--title={title}", f"--port={port}", str(SHOWCASE)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        if proc.returncode == 0:  # too late: the master took it and stopped gracefully
            assert b"exit with code 0" in out
            continue
        assert proc.returncode == -signal.SIGTERM, out
        assert b"Traceback" not in out and b"error" not in out.lower(), out
        wait_until(lambda: not any(cluster_processes(title).values()), timeout=5)


def test_without_the_early_start_the_plain_exec_still_serves(
    title: str, port: int, env: dict[str, str]
) -> None:
    cluster = Foreground(
        f"--title={title}", f"--port={port}", "--hostname=127.0.0.1", "--workers=1",
        str(SHOWCASE), title=title, env={**env, "EGGSCRIPTS_NO_EARLY_START": "1"},
    )  # fmt: skip
    try:
        assert cluster.wait_ready(), cluster.output()
        assert request(port, "/").text == "hello world"
    finally:
        assert cluster.stop() == 0
        cluster.close()


@pytest.mark.parametrize("early", [True, False], ids=["early", "plain"])
def test_an_app_s_own_top_level_names_never_shadow_the_runtime(
    tmp_path: Path, title: str, port: int, env: dict[str, str], early: bool
) -> None:
    """BASE_DIR holds a `runtime/` package and a `yaml.py` that raise: the master never
    imports from BASE_DIR (it is started from `/` and enters BASE_DIR itself), the app's
    processes import its own modules from there (`shop_lib`)."""
    app = make_app(tmp_path / "shop")
    (app / "runtime").mkdir()
    (app / "runtime" / "__init__.py").write_text("raise SystemExit('the app runtime ran')\n")
    (app / "yaml.py").write_text("raise SystemExit('the app yaml ran')\n")
    (app / "config").mkdir()
    (app / "config" / "config.default.yaml").write_text("keys: shop\n")
    (app / "shop_lib.py").write_text("GREETING = 'from the app dir'\n")
    (app / "app" / "router.py").write_text(
        "import shop_lib\n\n\nasync def hello(ctx):\n    ctx.body = shop_lib.GREETING\n\n\n"
        "def router(app):\n    app.router.get('/', hello)\n"
    )
    run_env = env if early else {**env, "EGGSCRIPTS_NO_EARLY_START": "1"}
    result = start_daemon(str(app), title=title, port=port, env=run_env, workers=1)
    try:
        assert result.returncode == 0, result.stderr
        assert request(port, "/").text == "from the app dir"
        assert master_of(title).cwd() == str(app)
    finally:
        assert run_cli("stop", f"--title={title}", env=env).returncode == 0
