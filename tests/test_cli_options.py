"""`start` option resolution (SPEC §2.1): every default source, validation, and the JSON
handed to the runtime (INTERNALS §1).

The foreground start really execs: `--python` points at a scripted fake runtime that
dumps what it received (argv, environment, cwd, pid) and exits, so these tests see the
exact command line the real runtime would get, without starting a cluster.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from eggscripts import options
from tests.cli_helpers import EGGSCRIPTS, cli_env, cluster_json, fake_python, make_app, run_cli


@pytest.fixture
def fake(tmp_path: Path) -> str:
    return fake_python(tmp_path)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    return tmp_path / "report.json"


def start(
    app: Path, fake: str, report: Path, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = cli_env(app.parent, FAKE_MODE="dump", FAKE_REPORT=str(report), **env)
    return run_cli("start", f"--python={fake}", *args, str(app), env=environ, cwd=cwd)


def test_registry_declares_each_name_and_flag_once() -> None:
    for specs in (options.START, options.STOP):
        names = [s.name for s in specs]
        assert len(names) == len(set(names))
        flags = [f for s in specs for f in (s.flag, *s.aliases)]
        assert len(flags) == len(set(flags))
    assert {s.key for s in options.STOP} <= {s.key for s in options.START}


def test_defaults(tmp_path: Path, fake: str, report: Path) -> None:
    app = make_app(tmp_path / "shop-dir", name="shop")
    result = start(app, fake, report)
    assert result.returncode == 0, result.stderr
    assert cluster_json(report) == {
        "base_dir": str(app),
        "title": "egg-server-shop",
        "port": None,
        "hostname": None,
        "workers": len(os.sched_getaffinity(0)),
        "env": "prod",
        "framework": None,
        "https": None,
        "require": [],
        "ready_fd": None,
        "startup_timeout": 300000,
        "sticky": False,
    }


def test_foreground_execs_in_place(tmp_path: Path, fake: str, report: Path) -> None:
    """Same pid (this process becomes the master), exit status passed through, BASE_DIR
    as cwd, EGG_SERVER_ENV exported, argv without any shell in between."""
    app = make_app(tmp_path / "app")
    env = cli_env(tmp_path, FAKE_MODE="dump", FAKE_REPORT=str(report), FAKE_EXIT="3")
    proc = subprocess.Popen(
        [EGGSCRIPTS, "start", f"--python={fake}", "--env=staging", "."],
        cwd=app,
        env=env,
    )
    assert proc.wait(timeout=30) == 3
    import json

    data = json.loads(report.read_text())
    assert data["pid"] == proc.pid
    assert data["cwd"] == str(app)
    assert data["env"] == "staging"
    assert data["argv"][1:3] == ["-m", "runtime.start_cluster"]
    assert cluster_json(report)["title"] == "egg-server-app"


def test_app_name_falls_back_to_a_title_safe_directory_name(
    tmp_path: Path, fake: str, report: Path
) -> None:
    app = tmp_path / "my app"
    app.mkdir()
    assert start(app, fake, report).returncode == 0
    assert cluster_json(report)["title"] == "egg-server-my-app"


PYPROJECT = """
title = "from-pyproject"
port = 1111
workers = 3
env = "staging"
hostname = "127.0.0.1"
timeout = 5000
sticky = true
"""


def test_precedence_command_line_then_environment_then_pyproject(
    tmp_path: Path, fake: str, report: Path
) -> None:
    app = make_app(tmp_path / "app", name="shop", tool=PYPROJECT)
    assert start(app, fake, report).returncode == 0
    got = cluster_json(report)
    assert (got["title"], got["port"], got["workers"], got["env"]) == (
        "from-pyproject",
        1111,
        3,
        "staging",
    )
    assert (got["hostname"], got["startup_timeout"], got["sticky"]) == ("127.0.0.1", 5000, True)

    env = {"PORT": "2222", "EGG_WORKERS": "4", "EGG_SERVER_ENV": "test"}
    assert start(app, fake, report, **env).returncode == 0
    got = cluster_json(report)
    assert (got["port"], got["workers"], got["env"]) == (2222, 4, "test")

    result = start(app, fake, report, "-p", "3333", "-c", "5", "--env=local", "--no-sticky", **env)
    assert result.returncode == 0
    got = cluster_json(report)
    assert (got["port"], got["workers"], got["env"], got["sticky"]) == (3333, 5, "local", False)
    assert got["title"] == "from-pyproject"
    assert start(app, fake, report, "--cluster=6", "--title=cli").returncode == 0
    assert (cluster_json(report)["workers"], cluster_json(report)["title"]) == (6, "cli")


def test_require_paths_resolve_against_base_dir(tmp_path: Path, fake: str, report: Path) -> None:
    app = make_app(tmp_path / "app", tool='require = ["json", "./boot/setup.py"]')
    (app / "boot").mkdir()
    (app / "boot" / "setup.py").write_text("")
    (app / "cli.py").write_text("")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert start(app, fake, report, cwd=elsewhere).returncode == 0
    assert cluster_json(report)["require"] == ["json", str(app / "boot" / "setup.py")]
    result = start(app, fake, report, "--require=./cli.py", "--require=os.path", cwd=elsewhere)
    assert result.returncode == 0
    assert cluster_json(report)["require"] == [str(app / "cli.py"), "os.path"]


def test_pyproject_scalar_require_and_relative_paths(
    tmp_path: Path, fake: str, report: Path
) -> None:
    app = make_app(tmp_path / "app", tool='require = "./one.py"\npython = "bin/py"')
    (app / "one.py").write_text("")
    (app / "bin").mkdir()
    (app / "bin" / "py").symlink_to(fake)
    environ = cli_env(tmp_path, FAKE_MODE="dump", FAKE_REPORT=str(report))
    result = run_cli("start", str(app), env=environ)
    assert result.returncode == 0, result.stderr
    assert cluster_json(report)["require"] == [str(app / "one.py")]


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
        (["--python=no-such-python-anywhere"], "", "is not an executable on PATH"),
        (["--framework=./nofw"], "", "is not a directory"),
        (["--daemon", "--stdout=same.log", "--stderr=same.log"], "", "are the same file"),
    ],
)
def test_bad_values_exit_2_with_one_line(
    tmp_path: Path, fake: str, report: Path, args: list[str], tool: str, message: str
) -> None:
    app = make_app(tmp_path / "app", tool=tool)
    result = start(app, fake, report, *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len([ln for ln in result.stderr.splitlines() if "rror" in ln]) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not report.exists(), "nothing may be started"


def test_https_needs_both_existing_files(tmp_path: Path, fake: str, report: Path) -> None:
    app = make_app(tmp_path / "app")
    (tmp_path / "key.pem").write_text("k")
    (tmp_path / "cert.pem").write_text("c")
    result = start(app, fake, report, "--https-key=key.pem", cwd=tmp_path)
    assert result.returncode == 2
    assert "--https-key and --https-cert must be given together" in result.stderr
    result = start(app, fake, report, "--https-key=key.pem", "--https-cert=cert.pem", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert cluster_json(report)["https"] == {
        "key": str(tmp_path / "key.pem"),
        "cert": str(tmp_path / "cert.pem"),
    }


def test_framework_name_or_directory(tmp_path: Path, fake: str, report: Path) -> None:
    app = make_app(tmp_path / "app", tool='framework = "acme.web"')
    assert start(app, fake, report).returncode == 0
    assert cluster_json(report)["framework"] == "acme.web"
    (app / "fw").mkdir()
    assert start(app, fake, report, "--framework=./fw").returncode == 0
    assert cluster_json(report)["framework"] == str(app / "fw")


def test_missing_base_dir_starts_nothing(tmp_path: Path, fake: str, report: Path) -> None:
    result = start(tmp_path / "nope", fake, report)
    assert result.returncode == 2
    assert "Directory" in result.stderr and "does not exist" in result.stderr
    assert not report.exists()


def test_broken_pyproject_is_a_usage_error(tmp_path: Path, fake: str, report: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "pyproject.toml").write_text("[tool.eggscripts\n")
    result = start(app, fake, report)
    assert result.returncode == 2
    assert result.stderr.startswith("[eggscripts] error: ")
    assert "is not valid TOML" in result.stderr
    assert not report.exists()


def test_unknown_pyproject_key_warns(tmp_path: Path, fake: str, report: Path) -> None:
    app = make_app(tmp_path / "app", tool="worker = 4\nignore_stderr = true")
    result = start(app, fake, report)
    assert result.returncode == 0
    assert "warning: unknown key 'worker' in [tool.eggscripts]" in result.stderr
    assert "ignore_stderr" not in result.stderr  # underscore spelling is accepted


def test_no_daemon_overrides_pyproject_daemon(tmp_path: Path, fake: str, report: Path) -> None:
    app = make_app(tmp_path / "app", tool="daemon = true")
    result = start(app, fake, report, "--no-daemon")
    assert result.returncode == 0, result.stderr
    assert cluster_json(report)["ready_fd"] is None
