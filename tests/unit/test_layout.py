"""The structure stays the way docs/INTERNALS.md's ownership map says: the CLI and the
runtime meet only at their doors, the app layer knows nothing of the processes that run
it, and no module grows into a god module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = "runtime.contract"
APP_LAYER = ("loader", "http", "apptarget", "cluster_client", "app")


def modules(*parts: str) -> list[Path]:
    base = ROOT.joinpath(*parts)
    return sorted(base.rglob("*.py")) if base.is_dir() else [base]


def imported(path: Path) -> set[str]:
    """Every module `path` imports, inside functions too."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _outside_contract(name: str) -> bool:
    return name.split(".")[0] == "runtime" and not name.startswith(CONTRACT)


def test_the_cli_imports_only_the_contract_of_the_runtime() -> None:
    for path in modules("eggscripts"):
        bad = {n for n in imported(path) if _outside_contract(n) or n == "runtime"}
        assert not bad, f"{path}: {bad}"


def test_the_runtime_never_imports_the_cli() -> None:
    for path in modules("runtime"):
        bad = {n for n in imported(path) if n.split(".")[0] == "eggscripts"}
        assert not bad, f"{path}: {bad}"


def test_the_contract_is_standard_library_only() -> None:
    """The contract imports the standard library and itself: nothing of the runtime a
    broken app could break, nothing the CLI would have to install."""
    for path in modules("runtime", "contract"):
        for name in imported(path):
            top = name.split(".")[0]
            assert name.startswith(CONTRACT) or top in sys.stdlib_module_names, (path, name)


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


def test_only_documents_of_the_repository_are_cited() -> None:
    """Code, docstrings, tests and docs cite README.md and docs/*.md, never a spec or a
    notes file that a reader of the repository does not have."""
    skipped = {".git", ".venv", ".nox", "__pycache__", "node_modules", "build", "dist"}
    bad = []
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        name = rel.as_posix()
        if set(rel.parts) & skipped or rel.parts[0].endswith(".egg-info"):
            continue
        if name == "tests/unit/test_layout.py" or path.is_symlink() or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        bad += [name for marker in ("SPEC §", "PITFALLS") if marker in text]
    assert not bad


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


def test_at_most_three_module_names_repeat() -> None:
    """A module's name says which one it is: across both packages at most three basenames
    repeat (`__init__.py` aside), so `status.py` is the command and the master's report is
    `status_report.py`. The repeats left: `check.py` (the `check` command; the runtime's
    documented door), `errors.py` (each side's exceptions, and the HTTP layer's) and
    `router.py` (the HTTP router; the loader step named after the app file it loads)."""
    names = [p.name for p in modules("runtime") + modules("eggscripts") if p.name != "__init__.py"]
    repeated = sorted({n for n in names if names.count(n) > 1})
    assert len(repeated) <= 3, repeated


def test_the_documented_entry_points_stay_at_the_top() -> None:
    """`python -m runtime.start_cluster` and `runtime.check` are the doors docs/INTERNALS.md
    names; the CLI execs the first (the agent is forked by the master: no door of its own)."""
    for name in ("start_cluster.py", "check.py", "__init__.py"):
        assert (ROOT / "runtime" / name).is_file(), name
