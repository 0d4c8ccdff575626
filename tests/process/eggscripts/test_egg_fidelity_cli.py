"""egg fidelity (issue 10): egg-scripts' own start/stop cases that eggscripts got wrong,
run with the real CLI and the real runtime. Each test names the issue item."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import (
    RecordingPython,
    busy_port,
    cli_env,
    copy_app,
    everything,
    make_app,
    run_cli,
)
from tests.clusters import foreground_cluster, start_and_stop, start_daemon
from tests.helpers import FIXTURES, request, wait_until


@pytest.fixture
def python(tmp_path: Path) -> RecordingPython:
    return RecordingPython(tmp_path)


def handed_over(
    app: Path, python: RecordingPython, port: int, *args: str, **env: str
) -> dict[str, object]:
    """Run a foreground start whose master fails at once on a taken port: the recorded
    run (argv options JSON and environment) of the real interpreter."""
    python.clear()
    with busy_port(port):
        result = run_cli(
            "start", f"--python={python.path}", f"--port={port}", *args, str(app),
            env=cli_env(app.parent, **env), timeout=20,
        )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    return {"options": python.options(), "env": python.last()["env"]}


# ---- 2: stop BASE_DIR through symlinks -------------------------------------------------------


@pytest.mark.parametrize("started_as", ["link", "real"])
def test_2_stop_base_dir_compares_resolved_paths(
    tmp_path: Path, title: str, port: int, started_as: str
) -> None:
    real = make_app(tmp_path / "real-app")
    link = tmp_path / "link-app"
    link.symlink_to(real)
    env = cli_env(tmp_path)
    start_dir, stop_dir = (link, real) if started_as == "link" else (real, link)
    with foreground_cluster(start_dir, title, port, env):
        assert everything(title)
        result = run_cli("stop", str(stop_dir), env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"stopped {title}" in result.stdout, result.stdout
        wait_until(lambda: everything(title) == [], timeout=10)
    if started_as == "real":
        assert f"{link} resolves to {real}: comparing resolved paths" in result.stdout
        result = run_cli("stop", str(link), env=env, cwd=tmp_path)
        assert f"no running cluster found for {real} (resolved from {link})" in result.stdout


# ---- 11: config/env decides the env without --env and EGG_SERVER_ENV ------------------------


def test_11_config_env_decides_without_env_option(
    tmp_path: Path, python: RecordingPython, port: int
) -> None:
    app = make_app(tmp_path / "app")
    got = handed_over(app, python, port)
    assert got["options"]["env"] == "prod" and got["env"]["EGG_SERVER_ENV"] == "prod"
    (app / "config").mkdir()
    (app / "config" / "env").write_text("test \n")
    got = handed_over(app, python, port)
    assert got["options"]["env"] == "test" and got["env"]["EGG_SERVER_ENV"] == "test"
    got = handed_over(app, python, port, EGG_SERVER_ENV=" staging ")
    assert got["options"]["env"] == "staging"
    got = handed_over(app, python, port, "--env=local ")
    assert got["options"]["env"] == "local" and got["env"]["EGG_SERVER_ENV"] == "local"


# ---- 12: --ignore-stderr still shows what went wrong ----------------------------------------


@contextlib.contextmanager
def daemon_start(
    tmp_path: Path, app: Path, title: str, port: int, *args: str
) -> Iterator[tuple[subprocess.CompletedProcess[str], Path]]:
    """`start --daemon` of `app` (one worker, its stderr log in tmp_path): the result and
    the stderr log; whatever runs is stopped at the end."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = cli_env(home)
    stderr_log = tmp_path / "stderr.log"
    try:
        yield start_daemon(f"--stderr={stderr_log}", *args, str(app), title=title, port=port,
                           env=env, workers=1, timeout=60), stderr_log  # fmt: skip
    finally:
        run_cli("stop", f"--title={title}", "--timeout=5000", env=env)


def test_12_ignore_stderr_prints_the_tail_and_the_log_path(
    tmp_path: Path, title: str, port: int
) -> None:
    app = copy_app(FIXTURES / "cli_stderr_app", tmp_path)
    with daemon_start(tmp_path, app, title, port, "--ignore-stderr") as (result, stderr_log):
        assert result.returncode == 0, result.stderr
        assert f"{title} started on http://127.0.0.1:{port}" in result.stdout
        assert "DeprecationWarning: config key 'foo' is obsolete" in result.stderr
        assert f"[eggscripts] Start got error, see {stderr_log}" in result.stderr
        assert request(port, "/").status == 404


# ---- 14: a framework named in pyproject.toml is reported as coming from there --------------


def test_14_missing_framework_from_pyproject_names_the_file(
    tmp_path: Path, title: str, port: int
) -> None:
    app = make_app(tmp_path / "app", tool='framework = "acme_missing_fw"\n')
    status, ready, _, err = start_and_stop(
        f"--title={title}", f"--port={port}", "--hostname=127.0.0.1", "--workers=1", str(app),
        title=title, env=cli_env(tmp_path),
    )  # fmt: skip
    assert (status, ready) == (4, False)  # the app failed to load
    pyproject = os.path.join(app, "pyproject.toml")
    assert f"framework 'acme_missing_fw' (from {pyproject}) is not installed" in err, err
    assert "--framework" not in err
