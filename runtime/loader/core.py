"""`EggCore`: what Application and Agent share: facts, config, the boot lifecycle.

The process runtime drives it through three awaits (INTERNALS §3): `boot()`,
`server_did_ready()`, `close()`. Everything else about loading lives in the loader steps.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from typing import Any

from runtime.loader.boot import trigger
from runtime.loader.load_context import LoadContext
from runtime.loader.units import LoadUnit, make_app_info, resolve_env


class NullMessenger:
    """Stand-in until the process runtime sets the real messenger (tests, scripts)."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Any]] = {}

    def on(self, action: str, handler: Any) -> None:
        self.handlers.setdefault(action, []).append(handler)

    once = on

    def _drop(self, *args: Any, **kwargs: Any) -> None:
        return None

    broadcast = send_to_app = send_to_agent = send_random = send_to = _drop


class EggCore:
    role = "app"
    load_order: tuple[str, ...] = ()

    def __init__(self, info: Any, frameworks: list[LoadUnit] | None = None) -> None:
        self.boot_info = info
        self.base_dir = os.path.abspath(info.base_dir)
        self.env = resolve_env(self.base_dir, info.env)
        self.app_info = make_app_info(self.base_dir, self.env, info.name)
        self.name = self.app_info.name
        self.config: dict[str, Any] = {}
        self.config_meta: dict[str, str] = {}
        self.plugins: dict[str, Any] = {}
        self.boots: list[tuple[str, str, Any]] = []
        self.logger = logging.getLogger(f"eggscripts.{self.role}")
        self.messenger: Any = NullMessenger()
        self.frameworks = list(frameworks or [])
        self.loader = LoadContext(
            target=self,
            role=self.role,
            info=self.app_info,
            frameworks=self.frameworks,
            app_unit=LoadUnit("app", self.name, self.base_dir),
        )
        self.booted = False
        self.closed = False

    @property
    def timing(self) -> list[tuple[str, float]]:
        return self.loader.timing

    async def boot(self) -> None:
        """Load every kind in `load_order`, then did_load, will_ready, did_ready.

        A failed boot still completes the lifecycle, as egg's does: when `did_load` or
        `will_ready` raises, every `did_ready(err)` hook is called with the error, then the
        `before_close` hooks run before the error propagates (egg runs them when the failed
        worker closes), so a plugin that opened a connection in `did_load` can still close
        it. A failure while loading files (before `did_load`) skips `did_ready`, as egg's
        does. A raising `did_ready` is logged and the app stays up, as in egg."""
        try:
            for kind in self.load_order:
                step = importlib.import_module(f"runtime.loader.{kind}")
                with self.loader.timed(f"Load {kind}"):
                    result = step.load(self.loader)
                    if inspect.isawaitable(result):
                        await result
        except BaseException:
            if self.boots:
                await self.close()
            raise
        try:
            await trigger(self, "did_load")
            from runtime.loader.config import dump_config

            dump_config(self)
            await trigger(self, "will_ready")
        except BaseException as exc:
            await trigger(self, "did_ready", exc.__cause__ or exc)
            await self.close()
            raise
        await trigger(self, "did_ready", None)
        self.booted = True

    async def server_did_ready(self) -> None:
        """The cluster is ready (egg-ready): the `server_did_ready` hooks run (the worker has
        already stopped copying ERROR records to stderr, runtime/process/log_setup.py `ready`)."""
        await trigger(self, "server_did_ready")

    def cluster(self, client_class: type, **options: Any) -> Any:
        """Leader/follower client factory (docs/MESSENGER.md): `.create(*args)` gives the leader in
        the agent, a follower in app workers. See `runtime.cluster_client`."""
        from runtime.cluster_client import cluster

        return cluster(self, client_class, **options)

    async def close(self) -> None:
        """Run `before_close` hooks in reverse order, once."""
        if self.closed:
            return
        self.closed = True
        await trigger(self, "before_close")
