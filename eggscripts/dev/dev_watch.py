"""What `eggscripts dev` watches, and the watcher: the watchfiles library, narrowed.

The app's sources are watched, never the whole BASE_DIR: a virtualenv inside it would cost
one inotify watch per directory (tens of thousands), and files the app writes while it
runs (logs/, run/) would reload it in a loop. Watched, when they exist:

- the egg layout: `app/`, `config/`, `lib/` and `plugins/` (local plugins), `app.py`,
  `agent.py`;
- the `--framework` directory;
- for a `module:attr` app: the module's top-level package (or module file), and the other
  top-level packages of BASE_DIR (a Django project's apps sit next to its settings);
- `.env` and `pyproject.toml`.

Inside them, logs/, run/, virtualenvs and caches (`__pycache__`, `.mypy_cache`, ...) are
ignored. A change is reported once the files have been quiet for `QUIET_MS`, so an editor
saving several files, or writing one in two steps, causes one reload.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from collections.abc import Iterator, Sequence

import watchfiles

EGG_LAYOUT = ("app", "config", "lib", "plugins", "app.py", "agent.py")
ALWAYS = (".env", "pyproject.toml")
# Changes are yielded once nothing changed for this long (watchfiles' `step`), and at
# the latest after DEBOUNCE_MS of continuous changes.
QUIET_MS = 50
DEBOUNCE_MS = 800
# How long one wait blocks: the dev loop checks its cluster in between.
POLL_MS = 300


class DevFilter(watchfiles.DefaultFilter):
    """watchfiles' default filter (VCS and editor files, caches, `.venv`) plus what an app
    writes at run time and the other usual virtualenv and tool directories."""

    ignore_dirs: Sequence[str] = (
        *watchfiles.DefaultFilter.ignore_dirs,
        "logs",
        "run",
        "venv",
        ".nox",
        ".ruff_cache",
        "site-packages",
        "node_modules",
    )

    def __init__(self, base_dir: str) -> None:
        super().__init__(ignore_paths=_virtualenvs(base_dir))


def watched_paths(base_dir: str, app: str | None, framework: str | None) -> list[str]:
    """The existing files and directories to watch (absolute, without duplicates)."""
    names = [*EGG_LAYOUT, *ALWAYS]
    if app:
        names += _top_level_packages(base_dir)
    paths = [os.path.join(base_dir, name) for name in names]
    if app:
        module = _module_origin(app.partition(":")[0].split(".")[0], base_dir)
        if module is not None:
            paths.append(module)
    if framework and os.path.isdir(framework):
        paths.append(framework)
    found = [os.path.abspath(p) for p in paths if os.path.exists(p)]
    return sorted(set(found))


class Watcher:
    """Blocking waits for the next batch of changes to the watched paths.

    A watched single file that an editor replaces (write a temporary file, rename it over
    the original) loses its inotify watch with the old inode; the watch is renewed after
    every batch that deleted one, so the next save is seen too.
    """

    def __init__(self, paths: list[str], base_dir: str) -> None:
        self.paths = paths
        self.files = {p for p in paths if not os.path.isdir(p)}
        self.base_dir = base_dir
        self._changes: Iterator[set[tuple[watchfiles.Change, str]]] | None = None
        self._pending: set[tuple[watchfiles.Change, str]] = set()

    def start(self) -> None:
        """Watch from now on. watchfiles' generator sets its watches up only when it first
        runs, so it is run once here (up to POLL_MS), and what it saw is kept for `wait`."""
        self.close()
        self._changes = watchfiles.watch(
            *[p for p in self.paths if os.path.exists(p)],
            watch_filter=DevFilter(self.base_dir),
            debounce=DEBOUNCE_MS,
            step=QUIET_MS,
            rust_timeout=POLL_MS,
            yield_on_timeout=True,
        )
        self._pending |= next(self._changes)

    def wait(self) -> list[str]:
        """The paths changed since the last call (sorted), or [] after POLL_MS of quiet."""
        if self._changes is None:
            self.start()
        assert self._changes is not None
        batch, self._pending = self._pending or next(self._changes), set()
        if any(change == watchfiles.Change.deleted and p in self.files for change, p in batch):
            self.start()
        return sorted({path for _change, path in batch})

    def idle(self) -> bool:
        return self._changes is None

    def close(self) -> None:
        close = getattr(self._changes, "close", None)
        if close is not None:
            close()
        self._changes = None


def agent_loads(paths: list[str], base_dir: str, app: str | None) -> bool:
    """Whether a change to `paths` needs a new agent too. The agent never loads `app/`
    (but `app/extend/agent.py`) nor `app.py`; for a `module:attr` app it never imports
    the app module's package, unless an `agent.py` (beside the module or in BASE_DIR) may
    import from it. Anything else (agent.py, config/, plugins/, lib/, the framework,
    .env, pyproject.toml) may change what the agent runs: a reload without a new agent
    would serve old agent code, so the rule errs on restarting it."""
    return not all(_app_only(path, base_dir, app) for path in paths)


def _app_only(path: str, base_dir: str, app: str | None) -> bool:
    name = os.path.relpath(path, base_dir)
    if name.startswith(os.pardir):
        return False
    parts = name.split(os.sep)
    if os.path.splitext(parts[-1])[0] == "agent":
        return False
    if parts[0] == "app.py" or (len(parts) > 1 and parts[0] == "app"):
        return True
    if not app or os.path.exists(os.path.join(base_dir, "agent.py")):
        return False
    package = app.partition(":")[0].split(".")
    beside = os.path.join(base_dir, *package[:-1], "agent.py")
    return len(package) > 1 and parts[0] == package[0] and not os.path.exists(beside)


def describe(paths: list[str], base_dir: str, limit: int = 3) -> str:
    """`app/router.py`, or `app/router.py, config/config.default.py and 4 more`."""
    names = [os.path.relpath(p, base_dir) if p.startswith(base_dir) else p for p in paths]
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _virtualenvs(base_dir: str) -> list[str]:
    """Top-level directories of BASE_DIR that are virtualenvs, whatever their name."""
    try:
        entries = os.listdir(base_dir)
    except OSError:
        return []
    paths = [os.path.join(base_dir, name) for name in entries]
    return [p for p in paths if os.path.isfile(os.path.join(p, "pyvenv.cfg"))]


def _top_level_packages(base_dir: str) -> list[str]:
    try:
        entries = sorted(os.listdir(base_dir))
    except OSError:
        return []
    ignored = set(DevFilter.ignore_dirs)
    return [
        name
        for name in entries
        if name not in ignored and os.path.isfile(os.path.join(base_dir, name, "__init__.py"))
    ]


def _module_origin(top: str, base_dir: str) -> str | None:
    """Where the app's top-level module lives (its package directory, or its file),
    found without importing anything: BASE_DIR first, as the workers import it."""
    spec = importlib.machinery.PathFinder.find_spec(top, [base_dir, *sys.path])
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return next(iter(spec.submodule_search_locations))
    return spec.origin if spec.origin and os.path.isfile(spec.origin) else None
