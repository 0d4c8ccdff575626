"""`eggscripts restart`: stop, then start again with the options the running master was
started with (its status reply), from a shell that no longer has them."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import make_app, run_cli
from tests.clusters import foreground_cluster
from tests.helpers import cluster_processes, request
from tests.process.eggscripts.test_env_options import env_app
from tests.process.eggscripts.test_serving_options import Start, probe_app


def master_pid(title: str) -> int:
    return cluster_processes(title)["master"][0].pid


def test_restart_keeps_the_options(
    tmp_path: Path, title: str, port: int, started: Start, env: dict[str, str]
) -> None:
    app = probe_app(tmp_path)
    started(
        app, title, "--app=probe:app", "--no-server-header", "--graceful-timeout=2s",
        port=port,
    )  # fmt: skip
    before = master_pid(title)
    result = run_cli("restart", f"--title={title}", env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"stopped {title}" in result.stdout
    assert f"{title} started on http://127.0.0.1:{port}" in result.stdout
    assert master_pid(title) != before
    assert len(cluster_processes(title)["app"]) == 2  # --workers=2 kept
    assert "server" not in request(port, "/").headers  # --no-server-header kept


def test_restart_of_nothing_running_exits_3(env: dict[str, str], title: str) -> None:
    result = run_cli("restart", f"--title={title}", env=env)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr


def test_restart_refuses_a_foreground_cluster_and_leaves_it_running(
    tmp_path: Path, title: str, port: int, env: dict[str, str]
) -> None:
    with foreground_cluster(make_app(tmp_path / "app"), title, port, env):
        before = master_pid(title)
        result = run_cli("restart", f"--title={title}", env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "runs in the foreground" in result.stderr.strip().splitlines()[-1]
        assert master_pid(title) == before


def test_restart_env_file_reaches_the_new_cluster(
    tmp_path: Path, title: str, port: int, started: Start, env: dict[str, str]
) -> None:
    started(env_app(tmp_path), title, "--app=envprobe:app", port=port)
    assert request(port, "/GREETING").text == "<unset>"
    dotenv = tmp_path / "app.env"
    dotenv.write_text("GREETING=hello\n")
    result = run_cli("restart", f"--title={title}", f"--env-file={dotenv}", env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert request(port, "/GREETING").text == "hello"
