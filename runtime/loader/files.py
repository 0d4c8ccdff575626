"""Reading app files: Python modules and YAML, with failures as one-line StartupErrors.

App modules are executed from their path (they need no `__init__.py`) under a private
module name, so two apps, or a plugin and an app, never collide in `sys.modules`.
"""

from __future__ import annotations

import keyword
import os
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from runtime.process.errors import StartupError, describe_exception
from runtime.process.module_files import load_module_file

_SLUG = re.compile(r"[^A-Za-z0-9_]+")


def module_name(unit_key: str, path: str, root: str) -> str:
    """A private, stable module name: `_egg_<unit>.<relative path, dotted>`."""
    rel = os.path.splitext(os.path.relpath(path, root))[0]
    parts = [_SLUG.sub("_", p) for p in rel.split(os.sep)]
    return ".".join([f"_egg_{_SLUG.sub('_', unit_key)}", *parts])


def fail(path: str, exc: BaseException, what: str = "", root: str | None = None) -> StartupError:
    """A StartupError `<file>:<line>: <Type>: <message>` at the innermost frame under `root`.

    `root` defaults to the file's directory, so the line shown is one the user wrote.
    """
    if isinstance(exc, StartupError):
        return exc
    text = describe_exception(exc, root or os.path.dirname(path))
    if not text.startswith("/"):
        text = f"{path}: {text}"
    return StartupError(f"{what}: {text}" if what else text)


def load_module(path: str, name: str) -> ModuleType:
    """Execute the Python file at `path` as module `name`; errors name file and line."""
    try:
        return load_module_file(path, name)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise fail(path, exc) from exc


def load_yaml(path: str) -> Any:
    """The content of a YAML file, bounded in size and shape (runtime/loader/shape.py)."""
    import yaml

    from runtime.loader.shape import MAX_DEPTH, check_file_size, check_shape

    check_file_size(path)
    try:
        with open(path, encoding="utf-8") as fh:
            value = yaml.safe_load(fh)
    except RecursionError:  # the parser recurses per level: name the file, not yaml/*.py
        raise StartupError(
            f"{path}: YAML nested too deeply to parse (the limit is {MAX_DEPTH} levels)"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = " ".join(str(exc.problem or exc.context or exc).split())
        raise StartupError(f"{path}:{line}: YAMLError: {problem}") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise StartupError(f"{path}: {type(exc).__name__}: {exc}") from exc
    check_shape(value, path)
    return value


def find_variant(directory: str, stem: str) -> str | None:
    """`<stem>.py`, `.yaml` or `.yml` in `directory`; more than one is ambiguous."""
    found = [
        os.path.join(directory, stem + ext)
        for ext in (".py", ".yaml", ".yml")
        if os.path.isfile(os.path.join(directory, stem + ext))
    ]
    if len(found) > 1:
        raise StartupError(f"{found[0]}: conflicts with {found[1]}; keep only one of them")
    return found[0] if found else None


# egg-core's file loader (defaultCamelize): every name on the way must match this.
_EGG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_DUNDER = re.compile(r"__\w+__(\.py)?")


def skipped(name: str) -> bool:
    """Names the loaders never look at: hidden ones (egg's file globs skip dotfiles) and
    Python's own dunder names (`__init__.py`, `__pycache__`), which tools create."""
    return name.startswith(".") or _DUNDER.fullmatch(name) is not None


def check_name(name: str, path: str) -> str:
    """`name` when egg-core's loader accepts it (a letter, then letters, digits, `_` or
    `-`); otherwise the start fails naming the path, as egg's loader throws: `_private`,
    `2fa`, `dot.dir`."""
    if _EGG_NAME.fullmatch(name) is None:
        raise StartupError(
            f"{path}: {name!r} cannot be loaded: a file or directory name here must start "
            "with a letter and hold only letters, digits, '_' and '-' (names starting with "
            "'.' are skipped)"
        )
    return name


def attribute_name(name: str, path: str) -> str:
    """`audit-log` -> `audit_log`; a name egg refuses (`_private`, `2fa`, `dot.dir`) or no
    attribute access can reach (`class`) fails the start naming the path."""
    attr = check_name(name, path).replace("-", "_")
    if keyword.iskeyword(attr):
        raise StartupError(
            f"{path}: {name!r} cannot be loaded: it is a Python keyword, so no attribute "
            "access can reach it"
        )
    return attr


def iter_python_files(directory: str) -> Iterator[tuple[tuple[str, ...], str]]:
    """`(("admin", "audit_log"), path)` for every `.py` below `directory`, sorted."""
    if not os.path.isdir(directory):
        return
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not skipped(d))
        rel = os.path.relpath(root, directory)
        parts = () if rel == "." else tuple(rel.split(os.sep))
        for fname in sorted(files):
            if fname.endswith(".py") and not skipped(fname):
                # A directory's name matters only once it holds a file to load.
                prefix = tuple(attribute_name(p, root) for p in parts)
                path = os.path.join(root, fname)
                yield (*prefix, attribute_name(fname[:-3], path)), path


def defined_here(module: ModuleType, value: Any) -> bool:
    """True for objects the module defines itself (not ones it imported)."""
    return getattr(value, "__module__", None) == module.__name__


def env_json_object(name: str, what: str = "a JSON object") -> dict[str, Any]:
    """The JSON object in environment variable `name` (`EGG_APP_CONFIG`, `EGG_PLUGINS`),
    {} when unset; anything else fails the start in one line naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    import json

    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise StartupError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise StartupError(f"{name} must be {what}")
    return value
