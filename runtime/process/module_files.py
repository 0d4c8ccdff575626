"""The one way the runtime executes a Python file as a module (app files, `--require`d
files, directory frameworks, cluster-client class files): app directories are not on
`sys.path`, so their files are loaded by path. A file that raises is removed from
`sys.modules` again, so a half-initialised module is never found by a later import."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def load_module_file(path: str, name: str, package_paths: list[str] | None = None) -> ModuleType:
    """Execute `path` as module `name` (a package when `package_paths` is given).
    Raises ImportError when the file cannot be loaded, else whatever the file raises."""
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=package_paths
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
