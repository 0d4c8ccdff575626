"""The ASGI lifespan protocol, driven by the worker itself.

uvicorn can drive it too, but only logs a failure (a traceback in a log file) and exits;
here a startup failure becomes one StartupError line with the app's own error (file, line,
message), which the worker reports to the master like a failing Boot hook, so `start` and
a `reload` canary fail with it. Modes are uvicorn's: `on` (the app must support lifespan),
`auto` (an app that raises before answering is taken not to support it, like Django's
ASGIHandler), `off`. The `state` dict is handed to the app in the lifespan scope and copied
into every request's scope by the server (ASGI lifespan state).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from runtime.process.errors import StartupError, describe_exception

log = logging.getLogger("eggscripts.app")


class Lifespan:
    def __init__(self, app: Any, mode: str, base_dir: str, what: str = "lifespan") -> None:
        self.app = app
        self.mode = mode
        self.base_dir = base_dir
        self.what = what
        self.state: dict[str, Any] = {}
        self.running = False
        self.completed = False  # its startup completed (stays True after the shutdown)
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        scope["state"] = self.state
        try:
            await self.app(scope, self._inbox.get, self._answers.put)
        except BaseException as exc:
            self._error = exc
        finally:
            await self._answers.put({"type": "lifespan.ended"})

    async def startup(self) -> None:
        """Run the app's startup; raise StartupError (one line) if it fails."""
        if self.mode == "off":
            return
        self._task = asyncio.ensure_future(self._run())
        await self._inbox.put({"type": "lifespan.startup"})
        answer = await self._answers.get()
        if answer["type"] == "lifespan.startup.complete":
            self.running = self.completed = True
            return
        if answer["type"] == "lifespan.startup.failed" or self.mode == "on":
            if self._task is not None:  # Starlette re-raises right after: get the exception
                await asyncio.wait({self._task}, timeout=1.0)
            raise StartupError(f"{self.what} startup failed: {self._reason(answer)}")
        log.info("%s: the app does not support the ASGI lifespan protocol", self.what)

    async def shutdown(self, timeout: float) -> None:
        """Run the app's shutdown (bounded by `timeout` seconds); failures are logged."""
        if not self.running:
            return
        self.running = False
        await self._inbox.put({"type": "lifespan.shutdown"})
        try:
            answer = await asyncio.wait_for(self._answers.get(), timeout)
        except asyncio.TimeoutError:
            log.error("%s shutdown did not finish within %.1f s", self.what, timeout)
            return
        if answer["type"] != "lifespan.shutdown.complete":
            log.error("%s shutdown failed: %s", self.what, self._reason(answer))

    def _reason(self, answer: dict[str, Any]) -> str:
        if self._error is not None:
            return describe_exception(self._error, self.base_dir)
        message = str(answer.get("message") or "").strip()
        if message:  # Starlette sends a whole traceback: its last line is the error
            return message.splitlines()[-1]
        return "the app ended the lifespan without completing it"
