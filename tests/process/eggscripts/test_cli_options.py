"""`start` option resolution: every default source, validation, and the JSON
handed to the runtime (INTERNALS §1).

`--python` is a RecordingPython: it writes down the exact command line, environment and
working directory the CLI hands over, then execs the real interpreter with the same
arguments, so every start below runs the real master in the foreground (the command's
process becomes it). Where only the hand-over matters, the port is taken by someone else:
the real master parses and validates its options, fails to bind, says so and exits 1
before it starts any child. Where the outcome matters, the cluster starts and serves and
is stopped once ready. Usage errors must run nothing at all.
"""

from __future__ import annotations

import http.client
import os
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import (
    EGGSCRIPTS,
    RecordingPython,
    busy_port,
    cli_env,
    make_app,
    master_of,
    run_cli,
)
from tests.clusters import Foreground, start_and_stop
from tests.helpers import FIXTURES, free_port


@pytest.fixture
def python(tmp_path: Path) -> RecordingPython:
    return RecordingPython(tmp_path)


def start(
    app: Path,
    python: RecordingPython,
    title: str,
    *args: str,
    cwd: Path | None = None,
    **env: str,
) -> tuple[int, bool, str, str]:
    """A foreground start of `app` with the recording `--python`, stopped once ready:
    (exit status, was it ready, stdout, stderr)."""
    return start_and_stop(
        f"--python={python.path}", *args, str(app), title=title, env=cli_env(app.parent, **env),
        cwd=cwd,
    )  # fmt: skip


def handed_over(
    app: Path,
    python: RecordingPython,
    port: int,
    *args: str,
    cwd: Path | None = None,
    **env: str,
) -> dict[str, Any]:
    """The options JSON a foreground start of `app` hands to the real master, which is
    expected to bind `port` (taken, so it stops right there)."""
    python.clear()
    with busy_port(port):
        result = run_cli(
            "start", f"--python={python.path}", *args, str(app), env=cli_env(app.parent, **env),
            cwd=cwd, timeout=20,
        )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"[eggscripts] port {port} is already in use on " in result.stderr, result.stderr
    return python.options()


def test_defaults(tmp_path: Path, python: RecordingPython, title: str, port: int) -> None:
    """Nothing given: the title comes from the app name, the port from the app's config
    (`cluster.listen.port`, read by the agent, so the JSON says null), one worker per CPU."""
    app = make_app(tmp_path / "shop-dir", name=title)
    (app / "config").mkdir()
    (app / "config" / "config.default.py").write_text(
        f'config = {{"cluster": {{"listen": {{"port": {port}}}}}}}\n'
    )
    status, ready, out, err = start(app, python, f"egg-server-{title}")
    assert ready, out + err
    assert status == 0
    got = python.options()
    assert got.pop("control_path").endswith(f"/eggscripts-{os.geteuid()}/egg-server-{title}.sock")
    assert got == {
        "base_dir": str(app),
        "title": f"egg-server-{title}",
        "port": None,
        "hostname": None,
        "workers": len(os.sched_getaffinity(0)),
        "env": "prod",
        "framework": None,
        "https": None,
        "require": [],
        "ready_fd": None,
        "lock_fd": python.options()["lock_fd"],  # the title lock, held since the CLI took it
        "startup_timeout": 300000,
        "worker_timeout": None,
        "user": None,
        "group": None,
        "shutdown_delay": 0,
        "grace_period": 30,
        "log_format": "text",
    }
    assert isinstance(python.options()["lock_fd"], int)
    assert f" egg-server-{title} started on http://0.0.0.0:{port} " in out  # what is bound


def test_foreground_execs_in_place(
    tmp_path: Path, python: RecordingPython, title: str, port: int
) -> None:
    """Same pid (this process becomes the master), BASE_DIR as cwd, EGG_SERVER_ENV
    exported, argv without any shell in between, and the master's exit status is the
    command's (here: 1, its port being taken)."""
    app = make_app(tmp_path / "app")
    (app / "config").mkdir()  # an env with a config file: no warning line
    (app / "config" / "config.staging.py").write_text("config = {}\n")
    with busy_port(port):
        proc = subprocess.Popen(
            [EGGSCRIPTS, "start", f"--python={python.path}", f"--title={title}",
             f"--port={port}", "--hostname=127.0.0.1", "--workers=1", "--env=staging", "."],
            cwd=app, env=cli_env(tmp_path), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    call = python.last()
    assert call["pid"] == proc.pid
    assert call["cwd"] == "/"  # never BASE_DIR: runtime/process/import_path.py
    assert call["env"]["EGG_SERVER_ENV"] == "staging"
    assert call["argv"][:2] == ["-m", "runtime.start_cluster"]
    assert python.options()["title"] == title
    # The master's own one-line report, on the command's stderr.
    assert err.splitlines() == [
        f"[eggscripts] port {port} is already in use on 127.0.0.1 (choose another --port or "
        "stop what listens there)"
    ]


def test_app_name_falls_back_to_a_title_safe_directory_name(
    tmp_path: Path, python: RecordingPython, port: int, title: str
) -> None:
    app = make_app(tmp_path / f"{title} app")
    got = handed_over(app, python, port, f"--port={port}")
    assert got["title"] == f"egg-server-{title}-app"


def test_precedence_command_line_then_environment_then_pyproject(
    tmp_path: Path, python: RecordingPython, title: str, port: int
) -> None:
    env_port, cli_port = free_port(), free_port()
    tool = (
        f'title = "{title}"\nport = {port}\nworkers = 3\nenv = "staging"\n'
        'hostname = "127.0.0.1"\ntimeout = 5000\nworker-timeout = 0\n'
    )
    app = make_app(tmp_path / "app", name="shop", tool=tool)
    got = handed_over(app, python, port)
    assert (got["title"], got["port"], got["workers"], got["env"]) == (title, port, 3, "staging")
    assert (got["hostname"], got["startup_timeout"]) == ("127.0.0.1", 5000)
    assert got["worker_timeout"] == 0

    env = {"PORT": str(env_port), "EGG_WORKERS": "4", "EGG_SERVER_ENV": "test"}
    got = handed_over(app, python, env_port, **env)
    assert (got["port"], got["workers"], got["env"]) == (env_port, 4, "test")

    args = ("-p", str(cli_port), "-c", "5", "--env=local")
    got = handed_over(app, python, cli_port, *args, **env)
    assert (got["port"], got["workers"], got["env"]) == (cli_port, 5, "local")
    assert got["title"] == title
    cli = ("-p", str(cli_port), "--cluster=6", f"--title={title}-cli")
    got = handed_over(app, python, cli_port, *cli)
    assert (got["workers"], got["title"]) == (6, f"{title}-cli")


def test_require_paths_resolve_against_base_dir(
    tmp_path: Path, python: RecordingPython, title: str, port: int
) -> None:
    tool = f'require = ["json", "./boot/setup.py"]\nport = {port}'
    app = make_app(tmp_path / "app", name=title, tool=tool)
    (app / "boot").mkdir()
    (app / "boot" / "setup.py").write_text("")
    (app / "cli.py").write_text("")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    got = handed_over(app, python, port, cwd=elsewhere)
    assert got["require"] == ["json", str(app / "boot" / "setup.py")]
    got = handed_over(app, python, port, "--require=./cli.py", "--require=os.path", cwd=elsewhere)
    assert got["require"] == [str(app / "cli.py"), "os.path"]


def test_pyproject_scalar_require_and_relative_paths(
    tmp_path: Path, python: RecordingPython, title: str, port: int
) -> None:
    tool = f'require = "./one.py"\npython = "bin/py"\nport = {port}'
    app = make_app(tmp_path / "app", name=title, tool=tool)
    (app / "one.py").write_text("")
    (app / "bin").mkdir()
    (app / "bin" / "py").symlink_to(python.path)
    with busy_port(port):
        result = run_cli("start", str(app), env=cli_env(tmp_path), timeout=20)
    assert result.returncode == 1 and "is already in use" in result.stderr, result.stderr
    # The interpreter is BASE_DIR/bin/py itself (a virtualenv's symlink is never resolved).
    assert python.last()["script"] == str(app / "bin" / "py")
    assert python.options()["require"] == [str(app / "one.py")]


@pytest.mark.parametrize(
    ("args", "tool", "message"),
    [
        ([], 'title = "bad title"', "invalid 'title' in [tool.eggscripts] of"),
        ([], "workers = 0", "invalid 'workers' in [tool.eggscripts] of"),
        ([], 'port = "http"', "invalid 'port' in [tool.eggscripts] of"),
        ([], 'require = ["./missing.py"]', "does not exist"),
        (["--require=no way"], "", "is neither an import name nor a path"),
        (["--https-key=key.pem"], "", "Invalid value for '--https-key'"),
        (["--python=/nonexistent/python"], "", "Invalid value for '--python'"),
        (["--worker-timeout=-1"], "", "Invalid value for '--worker-timeout'"),
        (["--python=no-such-python-anywhere"], "", "is not an executable on PATH"),
        (["--framework=./nofw"], "", "is not a directory"),
        (["--daemon", "--stdout=same.log", "--stderr=same.log"], "", "are the same file"),
    ],
)
def test_bad_values_exit_2_with_one_line(
    tmp_path: Path, python: RecordingPython, args: list[str], tool: str, message: str
) -> None:
    app = make_app(tmp_path / "app", tool=tool)
    result = run_cli(
        "start", f"--python={python.path}", *args, str(app), env=cli_env(tmp_path), cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len([ln for ln in result.stderr.splitlines() if "rror" in ln]) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert python.calls() == [], "nothing may be started"


def test_https_serves_with_both_files(
    tmp_path: Path, python: RecordingPython, title: str, port: int
) -> None:
    """Both files or neither; with both, the real cluster serves HTTPS with them (the
    fixture's self-signed pair is for tests only)."""
    for name in ("key.pem", "cert.pem"):
        shutil.copy(FIXTURES / "cli_https" / name, tmp_path / name)
    app = make_app(tmp_path / "app")
    env = cli_env(tmp_path)
    result = run_cli("start", f"--python={python.path}", "--https-key=key.pem", str(app),
                     env=env, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    assert "--https-key and --https-cert must be given together" in result.stderr
    assert python.calls() == []
    with Foreground(
        f"--python={python.path}", f"--title={title}", f"--port={port}", "--hostname=127.0.0.1",
        "--workers=1", "--https-key=key.pem", "--https-cert=cert.pem", str(app),
        title=title, env=env, cwd=tmp_path,
    ) as fg:  # fmt: skip
        assert fg.wait_ready(), fg.output()
        assert python.options()["https"] == {
            "key": str(tmp_path / "key.pem"),
            "cert": str(tmp_path / "cert.pem"),
        }
        assert f" {title} started on https://127.0.0.1:{port} " in fg.output()[0]
        # No verification (the clock of a test machine may predate the certificate); the
        # server must present exactly the configured certificate.
        context = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
        try:
            conn.request("GET", "/")
            assert conn.getresponse().status == 404  # an app without routes
            served = conn.sock.getpeercert(binary_form=True)
        finally:
            conn.close()
        pem = (tmp_path / "cert.pem").read_text()
        assert served == ssl.PEM_cert_to_DER_cert(pem)
        assert fg.stop() == 0


def test_framework_name_or_directory(
    tmp_path: Path, python: RecordingPython, title: str, port: int
) -> None:
    tool = f'framework = "acme.web"\ntitle = "{title}"\nport = {port}\nworkers = 1\n'
    app = make_app(tmp_path / "app", tool=tool)
    status, ready, _, err = start(app, python, title)
    # From pyproject.toml the runtime reads it itself, so its errors name that file.
    assert python.options()["framework"] is None
    # The real runtime cannot import it: the start fails with one line naming it.
    assert (status, ready) == (4, False)  # the app failed to load
    assert f"framework 'acme.web' (from {app / 'pyproject.toml'}) is not installed" in err
    assert handed_over(app, python, port, "--framework=acme.web")["framework"] == "acme.web"
    (app / "fw").mkdir()
    assert handed_over(app, python, port, "--framework=./fw")["framework"] == str(app / "fw")


def test_framework_directory_serves(tmp_path: Path, title: str, port: int) -> None:
    app = make_app(tmp_path / "app")
    (app / "fw").mkdir()
    (app / "fw" / "__init__.py").write_text("")
    status, ready, out, err = start_and_stop(
        f"--title={title}", f"--port={port}", "--hostname=127.0.0.1", "--workers=1",
        "--framework=./fw", str(app), title=title, env=cli_env(tmp_path),
    )  # fmt: skip
    assert ready and status == 0, out + err


def test_missing_base_dir_starts_nothing(tmp_path: Path, python: RecordingPython) -> None:
    result = run_cli("start", f"--python={python.path}", str(tmp_path / "nope"),
                     env=cli_env(tmp_path))  # fmt: skip
    assert result.returncode == 2
    assert "Directory" in result.stderr and "does not exist" in result.stderr
    assert python.calls() == []


def test_broken_pyproject_is_a_usage_error(tmp_path: Path, python: RecordingPython) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "pyproject.toml").write_text("[tool.eggscripts\n")
    result = run_cli("start", f"--python={python.path}", str(app), env=cli_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("[eggscripts] error: ")
    assert "is not valid TOML" in result.stderr
    assert python.calls() == []


def test_no_daemon_overrides_pyproject_and_unknown_keys_warn(
    tmp_path: Path, python: RecordingPython, title: str, port: int
) -> None:
    tool = (
        f'daemon = true\nworker = 4\nignore_stderr = true\ntitle = "{title}"\nport = {port}\n'
        'hostname = "127.0.0.1"\nworkers = 1\n'
    )
    app = make_app(tmp_path / "app", tool=tool)
    with Foreground(
        f"--python={python.path}", "--no-daemon", str(app), title=title, env=cli_env(tmp_path)
    ) as fg:
        assert fg.wait_ready(), fg.output()
        assert master_of(title).pid == fg.pid  # the foreground command became the master
        assert python.options()["ready_fd"] is None
        assert fg.stop() == 0
        err = fg.output()[1]
    assert "warning: unknown key 'worker' in [tool.eggscripts]" in err
    assert "ignore_stderr" not in err  # underscore spelling is accepted


def test_proxy_headers_are_on_by_default_and_can_be_turned_off(
    tmp_path: Path, python: RecordingPython, port: int
) -> None:
    """uvicorn's default (issue 17): X-Forwarded-* from --forwarded-allow-ips are trusted."""
    app = make_app(tmp_path / "app", name="shop", tool=f"port = {port}")
    assert handed_over(app, python, port).get("proxy_headers", True) is True
    assert handed_over(app, python, port, "--no-proxy-headers")["proxy_headers"] is False
