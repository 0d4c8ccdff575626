"""What the master imports before it forks app workers: each worker then boots in
milliseconds and shares these pages copy-on-write instead of importing its own copy.
Library and runtime code only, and only what the workers of this kind of app use; app code
is never imported in the master.

uvicorn's package `__init__` imports `uvicorn.main`, its command line: click, the reload
supervisors (watchfiles and its Rust extension), multiprocessing, about 25 ms and 40
modules no worker uses. `defer_uvicorn_init` registers the package without running that
file, so `uvicorn.config`, `uvicorn.server` and the protocols load on their own; the first
attribute asked of the package itself (`uvicorn.run`, `uvicorn.__version__`, `from
uvicorn import Config`, from app code say) runs the real `__init__` then (PEP 562), so
nothing changes for such code but when uvicorn's command line is imported. uvicorn's own
lifespan modules ask the package for `Config` (`from uvicorn import Config`): that one name
is answered from `uvicorn.config`, where the package's `__init__` takes it from too.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import pkgutil
import sys
from typing import Any

from runtime.process.cluster_options import ClusterOptions

YAML_SUFFIXES = (".yaml", ".yml")
# names uvicorn's own modules import from the package, and the module each comes from
UVICORN_REEXPORTS = {"Config": "uvicorn.config"}


def preload_shared(options: ClusterOptions) -> None:
    """Before the agent is forked: what the agent and the app workers both load (asyncio,
    uvloop, the child skeleton, the loader, the leader/follower clients), imported once
    here instead of once in the agent while the master imports it for the workers."""
    import_shared()
    if options.app is None and uses_yaml(options.base_dir):
        with contextlib.suppress(ImportError):
            import yaml  # noqa: F401


def import_shared() -> None:
    """The part of `preload_shared` no option changes: also what an early-started master
    imports while the CLI still parses (runtime/process/warm_start.py)."""
    import runtime.cluster_client
    import runtime.loader
    import runtime.worker.agent_process  # asyncio, the child skeleton, the messenger

    for info in pkgutil.iter_modules(runtime.loader.__path__, "runtime.loader."):
        importlib.import_module(info.name)
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: F401


def preload(options: ClusterOptions) -> None:
    """After the agent is forked: what only the app workers load."""
    defer_uvicorn_init()
    import runtime.worker.app_worker  # uvicorn, httptools, the worker

    if options.app is not None:  # an ASGI/WSGI callable (a WSGI one brings a2wsgi itself)
        importlib.import_module("runtime.apptarget.target")
        return
    import runtime.http

    importlib.import_module("runtime.app.application")
    for info in pkgutil.iter_modules(runtime.http.__path__, "runtime.http."):
        importlib.import_module(info.name)


def uses_yaml(base_dir: str) -> bool:
    """Whether the app's config directory holds YAML files (a plugin's `plugin.yaml`
    elsewhere still works: its worker imports yaml itself)."""
    try:
        names = os.listdir(os.path.join(base_dir, "config"))
    except OSError:
        return False
    return any(name.endswith(YAML_SUFFIXES) for name in names)


def defer_uvicorn_init() -> None:
    """Register the `uvicorn` package without running its `__init__` until an attribute
    of the package itself is asked for (the module docstring says why)."""
    if "uvicorn" in sys.modules:
        return
    spec = importlib.util.find_spec("uvicorn")
    if spec is None or spec.loader is None:
        return  # not installed: the import that needs it says so
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def __getattr__(name: str) -> Any:  # the PEP 562 hook
        if name in UVICORN_REEXPORTS:
            return getattr(importlib.import_module(UVICORN_REEXPORTS[name]), name)
        del module.__dict__["__getattr__"]
        loader.exec_module(module)
        return getattr(module, name)

    module.__dict__["__getattr__"] = __getattr__
    sys.modules["uvicorn"] = module
