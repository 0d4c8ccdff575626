"""`AppTarget`: an ASGI or WSGI application, booted and closed like an egg-style app.

The app worker drives every app through the same three awaits (INTERNALS §3): `boot()`,
`server_did_ready()`, `close()`, then serves `asgi`. For `--app module:attr` boot means:
bind `runtime.cluster` (so the app's module code can already use the messenger), import the
target, pick the interface, run the lifespan startup. `close()` runs the lifespan shutdown
(graceful stop, reload, scale-down alike) and stops the WSGI thread pool.
"""

from __future__ import annotations

import logging
from typing import Any

from runtime.app import cluster
from runtime.apptarget.interface import as_asgi, detect
from runtime.apptarget.lifespan import Lifespan
from runtime.apptarget.locate import import_target
from runtime.loader.core import NullMessenger

log = logging.getLogger("eggscripts.app")


class AppTarget:
    role = "app"

    def __init__(self, options: Any) -> None:
        self.options = options
        self.base_dir: str = options.base_dir
        self.messenger: Any = NullMessenger()
        self.asgi: Any = None
        self.interface = ""
        self.lifespan: Lifespan | None = None

    @property
    def lifespan_state(self) -> dict[str, Any]:
        return self.lifespan.state if self.lifespan is not None else {}

    async def boot(self) -> None:
        o = self.options
        cluster.bind(self)
        app = import_target(o.app, self.base_dir, o.factory)
        self.interface = detect(app, o.interface, o.app)
        asgi = as_asgi(app, self.interface, o.threads)
        mode = o.lifespan if self.interface == "asgi" else "off"
        self.lifespan = Lifespan(asgi, mode, self.base_dir)
        await self.lifespan.startup()
        self.asgi = asgi

    async def server_did_ready(self) -> None:
        """Nothing to run: the messenger emits `egg-ready` to the app's handlers itself."""

    def cluster(self, client_class: type, **options: Any) -> Any:
        return cluster.client(client_class, **options)

    async def close(self) -> None:
        if self.lifespan is not None:
            await self.lifespan.shutdown(self.options.kill_app_timeout / 1000)
        executor = getattr(self.asgi, "executor", None)  # a2wsgi's thread pool
        if executor is not None:
            executor.shutdown(wait=False)

    def __repr__(self) -> str:
        return f"<AppTarget {self.options.app} ({self.interface or 'not booted'})>"
