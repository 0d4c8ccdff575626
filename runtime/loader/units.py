"""Load units and app facts: env, name, `app_info`, and the framework chain.

A load unit is a directory laid out like an app: every plugin, every framework and the
app itself. Frameworks come from `BootInfo.framework`, else the app's
`[tool.eggscripts] framework`; a framework names its own parent the same way (a
`framework` attribute in its package or `[tool.eggscripts] framework` in its own
pyproject.toml), so frameworks chain. A relative path is relative to the directory of the
file that names it (the app's for the app's framework, the framework's own for its
parent), as a `require('../base')` in an egg framework is relative to that framework.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import types
from dataclasses import dataclass, field
from typing import Any

from runtime.loader.files import fail
from runtime.process.app_name import read_pyproject
from runtime.process.errors import StartupError
from runtime.process.module_files import load_module_file


@dataclass(frozen=True)
class LoadUnit:
    kind: str  # "plugin" | "framework" | "app"
    name: str
    path: str

    @property
    def key(self) -> str:
        return f"{self.kind}_{self.name}"


@dataclass(frozen=True)
class AppInfo:
    """`app_info` handed to `def config(app_info)`; also readable as `app_info["name"]`."""

    name: str
    base_dir: str
    env: str
    home: str
    root: str
    pkg: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


def resolve_env(base_dir: str, given: str | None = None) -> str:
    """BootInfo.env, else `EGG_SERVER_ENV`, else the `config/env` file, else `local`."""
    if given:
        return given
    env = os.environ.get("EGG_SERVER_ENV", "").strip()
    if env:
        return env
    try:
        with open(os.path.join(base_dir, "config", "env"), encoding="utf-8") as fh:
            env = fh.read().strip()
    except OSError:
        env = ""
    return env or "local"


def home_dir() -> str:
    """`app_info.home`: `EGG_HOME`, else `HOME`, else `/home/admin` (egg's order)."""
    return os.environ.get("EGG_HOME") or os.environ.get("HOME") or "/home/admin"


def make_app_info(base_dir: str, env: str, name: str | None) -> AppInfo:
    pkg = read_pyproject(base_dir).get("project", {})
    name = name or pkg.get("name") or os.path.basename(os.path.normpath(base_dir))
    home = home_dir()
    root = base_dir if env in ("local", "unittest") else home
    return AppInfo(name=name, base_dir=base_dir, env=env, home=home, root=root, pkg=pkg)


def _framework_parent(module: Any, path: str, taken: set[str]) -> tuple[str, str, str] | None:
    """(parent framework, where it was named, directory a relative path is relative to):
    a `framework` attribute of the package (relative to the package directory), else
    `[tool.eggscripts] framework` of the framework's own pyproject.toml (relative to that
    file's directory): the one in its directory, else the one of the project it was
    installed from, next to the package. A pyproject.toml that belongs to the app or to a
    framework further down the chain (`taken`) is not this framework's: a framework
    directory inside the app (`framework = "./fw"`) must not read the app's own setting."""
    parent = getattr(module, "framework", None)
    if isinstance(parent, str):
        return parent, f"framework at {path}", path
    for where in (path, os.path.dirname(path)):
        if where != path and where in taken:
            continue
        pyproject = os.path.join(where, "pyproject.toml")
        if os.path.isfile(pyproject):
            value = read_pyproject(where).get("tool", {}).get("eggscripts", {}).get("framework")
            if value:
                return str(value), pyproject, where
            return None
    return None


def _framework_from_directory(path: str, wanted_by: str) -> Any:
    """`--framework=./dir` (the CLI hands over an absolute path): a framework that is a
    directory rather than an installed package. With an `__init__.py` it is imported as a
    package under its directory name (so its own absolute imports work); without one it is
    a plain load unit (config/, app/, app.py ...)."""
    if not os.path.isdir(path):
        raise StartupError(
            f"framework directory {path} (from {wanted_by}) does not exist; a relative "
            "framework path is relative to the directory of the file that names it"
        )
    name = os.path.basename(os.path.normpath(path))
    init = os.path.join(path, "__init__.py")
    if not os.path.isfile(init):
        module = types.ModuleType(name)
        module.__file__ = init
        return module
    try:
        return load_module_file(init, name, package_paths=[path])
    except Exception as exc:
        raise fail(init, exc, f"framework {path!r} failed to import") from exc


def is_path(name: str) -> bool:
    """A framework named by a path (`./fw`, `../base`, `fw/base`, `/opt/fw`), not an
    importable name (which never holds a `/`); the CLI's `--framework` tells them apart
    the same way."""
    return "/" in name or name in (".", "..")


def _import_framework(name: str, wanted_by: str, base_dir: str) -> Any:
    if is_path(name):
        return _framework_from_directory(os.path.normpath(os.path.join(base_dir, name)), wanted_by)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise StartupError(f"framework {name!r} (from {wanted_by}) is not installed") from exc
        raise fail(getattr(exc, "filename", None) or name, exc, f"framework {name!r}") from exc
    except Exception as exc:
        raise fail(name, exc, f"framework {name!r} failed to import") from exc


def resolve_frameworks(info: Any, role: str) -> tuple[list[LoadUnit], type]:
    """The framework units (base first) and the Application/Agent class to instantiate."""
    # Only the class this role needs: the agent must not pay for the HTTP layer.
    base_cls: type
    if role == "app":
        from runtime.app.application import Application

        base_cls = Application
    else:
        from runtime.app.agent import Agent

        base_cls = Agent
    attr = base_cls.__name__
    base_dir = os.path.abspath(info.base_dir)
    name = info.framework
    wanted_by = "--framework"
    if not name:
        name = read_pyproject(base_dir).get("tool", {}).get("eggscripts", {}).get("framework")
        wanted_by = os.path.join(base_dir, "pyproject.toml")
    chain: list[tuple[LoadUnit, Any]] = []
    seen: list[str] = []
    relative_to = base_dir
    while name:
        if name in seen and not is_path(name):
            raise StartupError(f"framework chain loops: {' -> '.join([*seen, name])}")
        seen.append(name)
        module = _import_framework(name, wanted_by, relative_to)
        path = os.path.dirname(os.path.abspath(module.__file__ or ""))
        taken = {base_dir, *(unit.path for unit, _ in chain)}
        if path in taken:  # the same directory again, however it was spelled
            raise StartupError(f"framework chain loops: {' -> '.join(seen)} (at {path})")
        chain.append((LoadUnit("framework", name, path), module))
        parent = _framework_parent(module, path, taken)
        if parent is None:
            break
        name, wanted_by, relative_to = parent
    cls = base_cls
    for unit, module in chain:  # most derived first: the first class found wins
        found = getattr(module, attr, None)
        if found is not None:
            if not (isinstance(found, type) and issubclass(found, base_cls)):
                raise StartupError(
                    f"framework {unit.name!r}: {attr} must subclass runtime.{attr}, got {found!r}"
                )
            cls = found
            break
    return [unit for unit, _ in reversed(chain)], cls
