"""The structure stays the way docs/INTERNALS.md's ownership map says: the CLI and the
runtime meet only at their doors, the app layer knows nothing of the processes that run
it, and no module grows into a god module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_LAYER = ("loader", "http", "apptarget", "cluster_client", "messenger.py", "cluster.py",
             "application.py", "agent.py", "base.py")  # fmt: skip


def modules(*parts: str) -> list[Path]:
    base = ROOT.joinpath(*parts)
    return sorted(base.rglob("*.py")) if base.is_dir() else [base]


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_cli_never_imports_the_runtime() -> None:
    for path in modules("eggscripts"):
        bad = {n for n in imported(path) if n == "runtime" or n.startswith("runtime.")}
        assert not bad, f"{path}: {bad}"


def test_the_runtime_never_imports_click() -> None:
    for path in modules("runtime"):
        assert not {n for n in imported(path) if n.split(".")[0] == "click"}, path


@pytest.mark.parametrize("part", APP_LAYER)
def test_the_app_layer_knows_no_process_internals(part: str) -> None:
    for path in modules("runtime", part):
        bad = {n for n in imported(path) if n.startswith(("runtime.master", "runtime.worker"))}
        assert not bad, f"{path}: {bad}"


def test_no_module_over_400_lines() -> None:
    sizes = {p: len(p.read_text().splitlines()) for p in modules("runtime") + modules("eggscripts")}
    assert not {str(p): n for p, n in sizes.items() if n > 400}


def test_no_master_collaborator_imports_the_loop() -> None:
    """Collaborators get the cluster state and the master's operations, never the master."""
    loop = ROOT / "runtime" / "master" / "loop.py"
    for path in modules("runtime", "master"):
        if path != loop:
            assert "runtime.master.loop" not in imported(path), path
            assert "master: Any" not in path.read_text(), path


# What launches processes: a unit test imports none of it, not even through a helper
# module of tests/ (tests/conftest.py also fails a unit test that starts a process).
LAUNCHERS = {"subprocess", "multiprocessing", "tests.clusters", "tests.cli_helpers"}


def test_no_unit_test_can_launch_a_process() -> None:
    def reaches(module: str, seen: set[str]) -> set[str]:
        path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
        if module in seen or not path.exists():
            return set()
        seen.add(module)
        found = imported(path)
        for name in found.copy():
            if name.startswith("tests."):
                found |= reaches(name, seen)
        return found

    for path in modules("tests", "unit"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        bad = {n for n in reaches(module, set()) if n.split(".")[0] in LAUNCHERS or n in LAUNCHERS}
        assert not bad, f"{path.relative_to(ROOT)} reaches {sorted(bad)}: a process test"


def test_the_process_marker_follows_the_tree() -> None:
    """tests/conftest.py marks by directory: every test file sits in one of the trees."""
    tests = ROOT / "tests"
    trees = ("unit", "process", "reliability", "uvicorn_protocol")
    stray = [p for p in tests.rglob("test_*.py") if p.relative_to(tests).parts[0] not in trees]
    assert not stray, f"test files outside {trees}: {stray}"
