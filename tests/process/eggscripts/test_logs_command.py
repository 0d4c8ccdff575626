"""`eggscripts logs` (issue 13): finds a running cluster's files wherever they are,
prints the last lines, follows new ones (and a rotation), and works after a stop."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.cli_helpers import EGGSCRIPTS, cli_env, run_cli
from tests.clusters import start_daemon
from tests.fixtures.apptree import write_tree
from tests.helpers import free_port, request, wait_until
from tests.unit.eggscripts.test_logs_command import rotate_while_writing

APP = {
    "pyproject.toml": '[project]\nname = "tailed"\n',
    "app/router.py": "def router(app):\n    app.router.get('/', app.controller.home.index)\n",
    "app/controller/home.py": (
        "async def index(ctx):\n    ctx.logger.info('hello from %s', ctx.query.get('who'))\n"
        "    ctx.body = 'ok'\n"
    ),
    "config/config.prod.py": "config = {'logger': {'dir': '/LOGDIR'}}\n",
}


def test_logs_of_a_running_daemon_and_after_it_stopped(tmp_path: Path, title: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    logdir = tmp_path / "custom"
    files = dict(APP, **{"config/config.prod.py": APP["config/config.prod.py"].replace(
        "/LOGDIR", str(logdir))})  # fmt: skip
    app = write_tree(tmp_path / "app", files)
    port = free_port()
    env = cli_env(home)
    started = start_daemon(str(app), title=title, port=port, env=env, workers=1, timeout=40)
    assert started.returncode == 0, started.stderr
    follower = None
    try:
        request(port, "/?who=first")
        wait_until(lambda: "hello from first" in _read(logdir / "tailed-web.log"))
        shown = run_cli("logs", f"--title={title}", "-n", "50", env=env)
        assert shown.returncode == 0, shown.stderr
        headers = [ln for ln in shown.stdout.splitlines() if ln.startswith("==> ")]
        assert headers == [
            f"==> {home}/logs/{title}/master-stdout.log <==",
            f"==> {home}/logs/{title}/master-stderr.log <==",
            f"==> {logdir}/master.log <==",
            f"==> {logdir}/egg-agent.log <==",
            f"==> {logdir}/tailed-web.log <==",
            f"==> {logdir}/common-error.log <==",
        ]
        assert "hello from first" in shown.stdout
        followed = tmp_path / "followed.txt"
        with followed.open("w") as out:
            follower = subprocess.Popen(
                [EGGSCRIPTS, "logs", f"--title={title}", "-f", "-n", "0"],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_until(lambda: _read(followed).count("==> ") == 6, timeout=10)  # now following
        request(port, "/?who=second")
        wait_until(lambda: "hello from second" in _read(followed), timeout=10)
    finally:
        run_cli("stop", f"--title={title}", env=env)
        if follower is not None:
            follower.send_signal(signal.SIGINT)
            assert follower.wait(timeout=10) == 0
    assert "hello from first" not in _read(followed)
    after = run_cli("logs", f"--title={title}", env=env)
    assert after.returncode == 0
    assert f"{title} is not running" in after.stderr
    assert f"==> {home}/logs/{title}/master-stdout.log <==" in after.stdout


def test_nothing_to_show_is_an_error(tmp_path: Path) -> None:
    result = run_cli("logs", "--title=nothing-here", env=cli_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert "no log files found for nothing-here" in result.stderr
    assert "running" in result.stderr  # what does run (or that nothing does)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def test_logs_follow_process_keeps_the_lines_written_just_before_a_rotation(
    tmp_path: Path, title: str
) -> None:
    """`eggscripts logs -f` as a process: logrotate renames the file while its writer still
    holds it open; the lines the writer adds before it reopens are printed, then the new
    file's."""
    home = tmp_path / "home"
    logdir = home / "logs" / title
    logdir.mkdir(parents=True)
    log = logdir / "master-stdout.log"
    log.write_text("old\n")
    followed = tmp_path / "followed.txt"
    with followed.open("w") as out:
        follower = subprocess.Popen(
            [EGGSCRIPTS, "logs", f"--title={title}", "-f", "-n", "0"],
            env=cli_env(home), stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
    try:
        wait_until(lambda: "==> " in _read(followed), timeout=10)
        rotate_while_writing(log, "written before the reopen\n")
        wait_until(lambda: "after" in _read(followed), timeout=10)
    finally:
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=10) == 0
    text = _read(followed)
    assert text.index("before") < text.index("written before the reopen") < text.index("after")
