"""Every kind of app `--app` serves, each as a daemon with 2 workers through the CLI
(Flask and Django's WSGIHandler through a2wsgi; Django's ASGIHandler and a Starlette
factory natively), and every way naming an app can fail: one line, non-zero, nothing left.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.asgi_helpers import ASGI_FIXTURE, Daemon
from tests.cli_helpers import cli_env, copy_app, run_cli
from tests.helpers import cluster_processes, request, wait_until


@pytest.fixture
def daemon(tmp_path: Path, title: str, port: int) -> Daemon:
    records = tmp_path / "records"
    records.mkdir()
    (tmp_path / "home").mkdir()
    return Daemon(copy_app(ASGI_FIXTURE, tmp_path), title, port, records, tmp_path / "home")


@pytest.mark.parametrize(
    ("args", "pyproject", "answer"),
    [
        ((), 'app = "flask_app:app"', {"hello": "flask"}),
        (("--app=djproj.wsgi:application",), "", {"hello": "django"}),
        (("djproj.asgi:application",), "", {"hello": "django"}),
        (("--factory", "starlette_app:create_app"), "", None),
    ],
    ids=["flask-from-pyproject", "django-wsgi", "django-asgi", "starlette-factory"],
)
def test_each_kind_of_app_serves_from_two_workers(
    daemon: Daemon, args: tuple[str, ...], pyproject: str, answer: dict | None
) -> None:
    if pyproject:
        (daemon.base_dir / "pyproject.toml").write_text(f"[tool.eggscripts]\n{pyproject}\n")
    try:
        result = daemon.start(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(daemon.workers()) == 2
        if answer is None:  # Starlette: its lifespan state reached the request
            got = request(daemon.port, "/").json()
            assert (got["hello"], got["state"]) == ("starlette", "from-lifespan")
            assert daemon.events("starlette-startup") == {p: 1 for p in daemon.workers()}
        else:
            assert answer.items() <= request(daemon.port, "/").json().items()
        if "flask" in pyproject:
            assert request(daemon.port, "/stream").text == "ab"
            echoed = request(daemon.port, "/echo", "POST", {"n": 1})
            assert echoed.json() == {"got": {"n": 1}}
    finally:
        daemon.stop()


def test_raising_lifespan_startup_fails_the_start_in_one_line(daemon: Daemon) -> None:
    daemon.env["ASGI_FAIL_STARTUP"] = "1"
    result = daemon.start("pkg.main:app")
    assert result.returncode == 4  # the app failed to load
    assert "lifespan startup failed: " in result.stderr
    assert "pkg/main.py:" in result.stderr and "RuntimeError: database is down" in result.stderr
    assert not any(cluster_processes(daemon.title).values())


def test_a_reload_whose_canary_lifespan_fails_keeps_the_old_workers(daemon: Daemon) -> None:
    result = daemon.start("pkg.main:app")
    assert result.returncode == 0, result.stderr
    try:
        old = daemon.workers()
        (daemon.base_dir / "FAIL_STARTUP").write_text("")
        master = cluster_processes(daemon.title)["master"][0]
        master.send_signal(signal.SIGHUP)
        log = daemon.log("master.log")
        wait_until(lambda: "reload failed: " in log.read_text(), timeout=20)
        line = next(ln for ln in log.read_text().splitlines() if "reload failed: " in ln)
        assert "lifespan startup failed: " in line and "database is down" in line
        assert daemon.workers() == old
        assert request(daemon.port, "/").status == 200
    finally:
        daemon.stop()


def test_an_import_error_names_the_file_and_line(daemon: Daemon) -> None:
    (daemon.base_dir / "broken.py").write_text("import os\nraise ImportError('no db driver')\n")
    result = daemon.start("broken:app")
    assert result.returncode == 4
    assert "broken.py:2: ImportError: no db driver" in result.stderr
    missing = daemon.start("nosuchmodule:app")
    assert "no module named 'nosuchmodule'" in missing.stderr
    assert not any(cluster_processes(daemon.title).values())


def test_a_directory_that_is_not_an_app_fails_in_one_line(tmp_path: Path, title: str) -> None:
    empty = tmp_path / "project"
    empty.mkdir()
    result = run_cli("start", f"--title={title}", str(empty), env=cli_env(tmp_path))
    assert result.returncode == 4
    assert result.stderr.count("\n") == 1
    assert "is not an app: it has none of app/router.py, app/controller/" in result.stderr
    assert "--app=module:attr" in result.stderr
