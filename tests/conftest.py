"""Session-wide guards: every test gets a free port and a unique title, and no test may
leave an eggscripts process running (users would get orphans the same way).

The tree tells the two layers apart (docs/INTERNALS.md, "Tests"): everything under
`tests/process/` and `tests/reliability/` starts processes and is marked `process` here;
`tests/unit/` and `tests/uvicorn_protocol/` start none, so `pytest -m "not process"` is
the fast loop.

Titles carry `SESSION_TAG` so the check only looks at this session's clusters. A fixture
with a wider scope that keeps one cluster for many tests registers its title in
`SHARED_TITLES`; it is checked when that fixture tears down instead.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.cli_helpers import cli_env, run_cli
from tests.clusters import start_daemon
from tests.helpers import SESSION_TAG, free_port, kill_session_processes, session_processes

_counter = itertools.count()
SHARED_TITLES: set[str] = set()
TESTS = Path(__file__).resolve().parent
PROCESS_TREES = (TESTS / "process", TESTS / "reliability")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.path.is_relative_to(tree) for tree in PROCESS_TREES):
            item.add_marker(pytest.mark.process)


def pytest_configure(config: pytest.Config) -> None:
    """A shell that runs pytest in the background (`pytest &` in a script) starts it with
    SIGINT ignored, and every CLI the tests start would inherit that and sleep through the
    Ctrl-C tests. Python leaves an inherited SIG_IGN alone, as users expect of `nohup`;
    the tests need the interactive default, so they ask for it."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def new_title(hint: str = "c") -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "-", hint)[:30].strip("-")
    return f"{SESSION_TAG}{next(_counter)}-{name}"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def title(request: pytest.FixtureRequest) -> str:
    return new_title(request.node.name)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The CLI's environment, with a fresh $HOME (daemon logs go to ~/logs)."""
    (tmp_path / "home").mkdir()
    return cli_env(tmp_path / "home")


@pytest.fixture
def started(env: dict[str, str]) -> Iterator[Callable[..., str]]:
    """`start --daemon TITLE` on a fresh port (2 workers unless told); stopped at the end."""
    titles: list[str] = []

    def start(app: Path, title: str, *args: str, port: int | None = None) -> str:
        result = start_daemon(*args, str(app), title=title, port=port or free_port(), env=env)
        titles.append(title)
        assert result.returncode == 0, result.stdout + result.stderr
        return title

    yield start
    for title in titles:
        run_cli("stop", f"--title={title}", "--timeout=5000", env=env)


def _leftovers() -> list[str]:
    return [
        f"{p.pid} {t}"
        for p, t in session_processes()
        if not any(f"--title={s} " in t + " " for s in SHARED_TITLES)
    ]


class StartedAProcess(AssertionError):
    pass


def _no_process(name: str) -> Callable[..., NoReturn]:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise StartedAProcess(
            f"a test outside tests/process/ called {name}: move it there (docs/INTERNALS.md)"
        )

    return refuse


@pytest.fixture(autouse=True)
def unit_tests_start_no_process(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test not marked `process` fails the moment it starts a process or forks, so the
    fast layer stays fast and the tree stays honest."""
    if request.node.get_closest_marker("process") is not None:
        return
    monkeypatch.setattr(subprocess.Popen, "_execute_child", _no_process("subprocess"))
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _no_process(f"os.{name}"))


@pytest.fixture(autouse=True)
def no_leftover_processes(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each process test, its processes are gone. A unit test starts none
    (`unit_tests_start_no_process`), so it skips the scan of /proc."""
    yield
    if request.node.get_closest_marker("process") is None:
        return
    deadline = time.monotonic() + 3.0
    left = _leftovers()
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = _leftovers()
    if left:
        kill_session_processes()
        pytest.fail("test left eggscripts processes running: " + "; ".join(left))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = kill_session_processes()
    if left:
        print("\nleftover eggscripts processes killed at session end: " + "; ".join(left))
        session.exitstatus = 1
