"""`EGGSCRIPTS_<OPTION>` and `--env-file` on real clusters: the precedence command line >
EGGSCRIPTS_* > egg's PORT/EGG_WORKERS/EGG_SERVER_ENV > pyproject.toml, and a dotenv file
whose variables reach the cluster while the real environment wins (docs/CLI.md,
"Environment")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import make_app, run_cli
from tests.helpers import cluster_processes, request

ENV_APP = """
import os


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = os.environ.get(scope["path"].strip("/"), "<unset>").encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
"""


@pytest.fixture
def cleanup(env: dict[str, str]) -> Iterator[list[str]]:
    titles: list[str] = []
    yield titles
    for title in titles:
        run_cli("stop", f"--title={title}", "--timeout=5s", env=env)


def env_app(tmp_path: Path, tool: str = "") -> Path:
    app = make_app(tmp_path / "envapp", tool=tool)
    (app / "envprobe.py").write_text(ENV_APP)
    return app


def start(env: dict[str, str], app: Path, title: str, *args: str) -> None:
    result = run_cli(
        "start", "--daemon", f"--title={title}", "--hostname=127.0.0.1",
        "--app=envprobe:app", *args, str(app), env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def app_workers(title: str) -> int:
    return len(cluster_processes(title)["app"])


def test_eggscripts_variables_beat_egg_names_and_pyproject(
    tmp_path: Path, env: dict[str, str], title: str, port: int, cleanup: list[str]
) -> None:
    app = env_app(tmp_path, "workers = 3\nport = 1")
    env = {**env, "EGGSCRIPTS_WORKERS": "1", "EGG_WORKERS": "2", "EGGSCRIPTS_PORT": str(port)}
    env["EGGSCRIPTS_MAX_REQUESTS"] = "1000"
    start(env, app, title)
    cleanup.append(title)
    assert app_workers(title) == 1
    assert request(port, "/EGGSCRIPTS_WORKERS").text == "1"  # the cluster sees them too


def test_command_line_beats_eggscripts_variables(
    tmp_path: Path, env: dict[str, str], title: str, port: int, cleanup: list[str]
) -> None:
    env = {**env, "EGGSCRIPTS_WORKERS": "1", "EGGSCRIPTS_PORT": "1"}
    start(env, env_app(tmp_path), title, "--workers=2", f"--port={port}")
    cleanup.append(title)
    assert app_workers(title) == 2


def test_bad_eggscripts_variable_is_named(tmp_path: Path, env: dict[str, str]) -> None:
    env = {**env, "EGGSCRIPTS_MAX_REQUESTS": "many"}
    result = run_cli("start", "--daemon", str(env_app(tmp_path)), env=env)
    assert result.returncode == 2
    assert "EGGSCRIPTS_MAX_REQUESTS" in result.stderr.strip().splitlines()[-1]


def test_env_file_reaches_the_cluster_and_sets_options(
    tmp_path: Path, env: dict[str, str], title: str, port: int, cleanup: list[str]
) -> None:
    dotenv = tmp_path / "prod.env"
    dotenv.write_text(
        f"# settings\nEGGSCRIPTS_PORT={port}\nexport GREETING='hello world'\n"
        "EGGSCRIPTS_WORKERS=1\nSHADOWED=from-file\n"
    )
    env = {**env, "SHADOWED": "from-environment"}
    start(env, env_app(tmp_path), title, f"--env-file={dotenv}")
    cleanup.append(title)
    assert app_workers(title) == 1
    assert request(port, "/GREETING").text == "hello world"
    assert request(port, "/SHADOWED").text == "from-environment"  # the real one wins


def test_env_file_missing_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli(
        "start", "--daemon", f"--env-file={tmp_path / 'nope.env'}", str(env_app(tmp_path)),
        env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "nope.env does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_eggscripts_title_picks_the_cluster_of_other_commands(
    tmp_path: Path, env: dict[str, str], title: str, port: int, cleanup: list[str]
) -> None:
    """EGGSCRIPTS_TITLE picks the cluster for the other commands too."""
    start(env, env_app(tmp_path), title, f"--port={port}", "--workers=1")
    cleanup.append(title)
    result = run_cli("status", "--json", env={**env, "EGGSCRIPTS_TITLE": title})
    assert result.returncode == 0, result.stderr
    assert title in json.dumps(json.loads(result.stdout))
