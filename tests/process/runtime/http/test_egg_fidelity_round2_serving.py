"""egg fidelity, round two (issue 20), served for real: a failed boot in a real worker,: the
cases with real processes (the others are in
tests/unit/runtime/http/test_egg_fidelity_round2_serving.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import cli_env, make_app, run_cli
from tests.clusters import Cluster, foreground_cluster
from tests.fixtures.apptree import write_tree
from tests.helpers import request

LIFECYCLE_FILE_BOOT = """
import os


class Boot:
    def __init__(self, app):
        self.app = app

    def _log(self, line):
        with open(os.path.join(self.app.base_dir, "lifecycle.txt"), "a") as fh:
            fh.write(f"{os.getpid()} {line}\\n")

    def {hook}(self):
        raise RuntimeError("{hook} error")

    def did_ready(self, err=None):
        self._log(f"did_ready {err}")

    def before_close(self):
        self._log("before_close")
"""


INJECT = """
import os

with open(os.path.join(os.path.dirname(__file__), "injected.txt"), "a") as fh:
    fh.write("@@@ inject script{n} %d\\n" % os.getpid())
"""


@pytest.mark.parametrize("hook", ["did_load", "will_ready"])
def test_1_failed_boot_in_a_real_worker_calls_did_ready_err_then_before_close(
    tmp_path: Path, title: str, port: int, hook: str
) -> None:
    app = make_app(tmp_path / "lifecycle-app")
    write_tree(app, {"app.py": LIFECYCLE_FILE_BOOT.replace("{hook}", hook)})
    code, _, err = Cluster(app, title, port, workers=1).start(wait=False).wait(timeout=30)
    assert code != 0 and f"Boot.{hook}" in err, err
    lines = [line.split(" ", 1) for line in (app / "lifecycle.txt").read_text().splitlines()]
    assert [text for _, text in lines] == [f"did_ready {hook} error", "before_close"]
    assert len({pid for pid, _ in lines}) == 1  # both in the worker that failed


def test_6_config_only_directory_starts_serves_404_and_runs_its_requires(
    tmp_path: Path, title: str, port: int
) -> None:
    """egg-scripts start.test.js 'read pkgInfo: should --require' (fixtures/pkg-config: a
    package.json with `require` and no router or controller): it starts and every process
    runs the required scripts."""
    app = write_tree(
        tmp_path / "pkg-config",
        {
            "pyproject.toml": '[project]\nname = "example"\n\n[tool.eggscripts]\n'
            'require = ["./inject.py", "./inject2.py"]\n',
            "config/config.default.py": "config = {}",
            "inject.py": INJECT.replace("{n}", ""),
            "inject2.py": INJECT.replace("{n}", "2"),
        },
    )
    with foreground_cluster(app, title, port, cli_env(tmp_path), workers=1):
        assert request(port, "/").status == 404
        lines = (app / "injected.txt").read_text().splitlines()
    by_script: dict[str, set[str]] = {}
    for line in lines:
        script, pid = line.rsplit(" ", 1)
        by_script.setdefault(script, set()).add(pid)
    assert set(by_script) == {"@@@ inject script", "@@@ inject script2"}
    assert len(by_script["@@@ inject script"]) == 2  # the agent and the app worker


def test_6_a_require_naming_a_missing_module_fails_naming_it(
    tmp_path: Path, title: str, port: int
) -> None:
    app = write_tree(
        tmp_path / "missing-require",
        {
            "pyproject.toml": '[tool.eggscripts]\nrequire = ["no_such_module_q"]\n',
            "config/config.default.py": "config = {}",
        },
    )
    result = run_cli("start", f"--title={title}", f"--port={port}", str(app), env=cli_env(tmp_path))
    assert result.returncode == 4, result.stdout + result.stderr
    assert "no module named 'no_such_module_q'" in result.stderr
    assert "not an app" not in result.stderr


def test_6_a_directory_without_config_or_code_is_still_no_app(tmp_path: Path, title: str) -> None:
    project = write_tree(tmp_path / "project", {"pyproject.toml": '[project]\nname = "x"\n'})
    result = run_cli("start", f"--title={title}", str(project), env=cli_env(tmp_path))
    assert result.returncode == 4
    assert (
        "is not an app: it has none of app/router.py, app/controller/, app.py, agent.py, "
        "config/" in result.stderr
    )
