"""`eggscripts check` (issue 13): loads the app as a worker would, for CI. Passes on the
showcase; fails in one line, with the start's own message, on every bad app of the
bad-input tests; never binds a port or leaves a process behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import cli_env, run_cli
from tests.fixtures.apptree import write_tree
from tests.helpers import SHOWCASE
from tests.process.eggscripts.test_startup_errors import BAD_APPS


def check(*args: str, home: Path) -> tuple[int, str, str]:
    result = run_cli("check", *args, env=cli_env(home), cwd=home, timeout=60)
    return result.returncode, result.stdout, result.stderr


def test_showcase_passes_and_lists_what_it_loaded(tmp_path: Path) -> None:
    app = tmp_path / "showcase"
    shutil.copytree(SHOWCASE, app, ignore=shutil.ignore_patterns("logs", "run", "__pycache__"))
    rc, out, err = check(str(app), home=tmp_path)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("[eggscripts] check passed: showcase (env prod) loaded in ")
    assert "  plugins (2): greeting, ticker" in lines
    assert any(line.startswith("  routes (") for line in lines)
    assert any("/api/users/:id" in line and "(name: user)" in line for line in lines)
    assert err == ""


@pytest.mark.parametrize("case", list(BAD_APPS), ids=list(BAD_APPS))
def test_each_bad_app_fails_in_one_line(case: str, tmp_path: Path) -> None:
    files, fragments = BAD_APPS[case]
    app = write_tree(tmp_path / "app", files)
    rc, out, err = check(str(app), home=tmp_path)
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("[eggscripts] check failed: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert out == ""


def test_env_option_selects_the_config(tmp_path: Path) -> None:
    app = write_tree(
        tmp_path / "app",
        {"config/config.qa.py": "raise RuntimeError('qa config broken')\n"},
    )
    assert check(str(app), home=tmp_path)[0] == 0
    rc, _, err = check("--env=qa", str(app), home=tmp_path)
    assert rc == 1 and "config.qa.py:1: RuntimeError: qa config broken" in err


def test_module_attr_target_is_loaded_and_a_broken_one_fails_in_one_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "good.py").write_text("async def app(scope, receive, send):\n    pass\n")
    rc, out, err = check("good:app", home=tmp_path)
    assert rc == 0, err
    assert "app: good:app (asgi), no lifespan support" in out
    (tmp_path / "flat.py").write_text("def app(environ, start_response):\n    return []\n")
    rc, out, err = check("flat:app", home=tmp_path)
    assert rc == 0, err
    assert "app: flat:app (wsgi), no lifespan (WSGI)" in out
    (tmp_path / "bad.py").write_text("raise RuntimeError('no database')\n")
    rc, _, err = check("bad:app", home=tmp_path)
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "bad.py:1" in lines[0] and "no database" in lines[0], err
