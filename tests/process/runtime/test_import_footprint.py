"""What a process imports when a feature is off (the master's modules are what every app
worker forks with): prometheus_client only with `--health-port`, websockets only on a
worker's first WebSocket upgrade, uvicorn's command line (click, the reload supervisors,
watchfiles) never. Each check runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT

HTTP_APP = ROOT / "tests" / "fixtures" / "http_app"

# The master up to its first app worker fork (what it loads before the agent's fork, then
# `spawner.prepare()`), plus what uvicorn's Config.load() imports in a worker.
MASTER_AT_FORK = """
import runtime.start_cluster, runtime.master.loop
from runtime.process.cluster_options import ClusterOptions
from runtime.worker.preload import preload, preload_shared
options = ClusterOptions(base_dir="/", title="t")
preload_shared(options)
preload(options)
from runtime.worker.http_server import server_config
server_config(ClusterOptions(base_dir="/", title="t"), lambda *a: None).load()
"""


def loaded(code: str) -> set[str]:
    """Modules in `sys.modules` after running `code`, and their top-level packages."""
    code += "\nimport sys\nprint(' '.join(sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names = out.stdout.split()
    return set(names) | {name.split(".")[0] for name in names}


@pytest.mark.parametrize(
    "module",
    [
        "prometheus_client",  # --health-port
        "h11",  # --health-port
        "websockets",  # a WebSocket upgrade
        "runtime.master.production.health",
        "runtime.apptarget.target",  # --app
        "runtime.apptarget.lifespan",  # --app, router.mount()
        "click",  # uvicorn's command line, imported by its package's __init__
        "uvicorn.main",
        "watchfiles",  # uvicorn's --reload
        "multiprocessing",  # uvicorn's --workers
        "yaml",  # an app without YAML config files
    ],
)
def test_master_and_workers_do_not_import_unused_features(module: str) -> None:
    assert module not in loaded(MASTER_AT_FORK)


def test_a_booted_app_without_mounts_imports_no_asgi_target_code() -> None:
    booted = MASTER_AT_FORK + (
        "import asyncio\n"
        "from runtime.loader import BootInfo, create_app\n"
        f"app = create_app(BootInfo(base_dir={str(HTTP_APP)!r}, env='prod'))\n"
        "asyncio.run(app.boot())\n"
    )
    modules = loaded(booted)
    assert "runtime.apptarget.lifespan" not in modules
    assert "runtime.apptarget.target" not in modules


def test_uvicorns_package_still_answers_what_its_init_exports() -> None:
    """Its `__init__` runs when app code asks the package for a name (runtime/worker/preload.py)."""
    code = MASTER_AT_FORK + (
        "import sys, uvicorn\n"
        "assert 'click' not in sys.modules\n"
        "from uvicorn import Server, run\n"
        "assert uvicorn.Config is uvicorn.config.Config and uvicorn.__version__\n"
    )
    assert "click" in loaded(code)


def test_the_health_server_still_brings_prometheus_client() -> None:
    assert "prometheus_client" in loaded("import runtime.master.production.health")


def test_a_websocket_upgrade_builds_uvicorns_protocol() -> None:
    code = """
import asyncio
from uvicorn.config import Config
from uvicorn.server import ServerState
from runtime.worker.lazy_ws import LazyWebSocketProtocol
config = Config(lambda *a: None, ws=LazyWebSocketProtocol, lifespan="off")
config.load()
loop = asyncio.new_event_loop()
state = ServerState()
proto = config.ws_protocol_class(config=config, server_state=state, app_state={}, _loop=loop)
print(type(proto).__name__)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "WebSocketsSansIOProtocol"
