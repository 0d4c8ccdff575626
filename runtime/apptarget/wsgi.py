"""The WSGI adapter: a2wsgi's `WSGIMiddleware`, extended with what a cluster needs.

- The response path: `Responder` (wsgi_responder.py) hands the app's messages to the loop
  without the thread waiting for it, instead of a2wsgi's blocking round trip per message.
- Whole request bodies: a2wsgi's `wsgi.input` reads ASGI body messages until the last one,
  so it ends exactly where the request body ends, chunked or not; `terminated_input` says
  so to the app with the `wsgi.input_terminated` flag (as gunicorn does). Without it
  Werkzeug (Flask) and other frameworks trust only `CONTENT_LENGTH` and read a chunked body
  as empty. A large body is still read piece by piece, as the app asks for it.
- Saturation: every request holds one of the `--threads` threads of the pool from its start
  to its last body byte (queued requests wait for one). `WSGIApp` counts the requests it
  holds, on the event loop, so the worker can say when every thread is taken: its
  heartbeat then reports `saturated` and the master's /readyz stops calling the cluster
  ready when all its app workers are (docs/DEPLOY.md).
- `--root-path` as gunicorn reads it: uvicorn expects the proxy to strip the prefix and
  puts it back in front of `path`; gunicorn (`SCRIPT_NAME`) expects the proxy to keep it.
  A WSGI app gets `SCRIPT_NAME=<root>` and `PATH_INFO=<below it>` both ways: a request
  whose path still starts with the prefix has it taken off once (`below_root`), so a
  Flask or Django app moved from gunicorn works behind the same proxy configuration
  (docs/ASGI.md, "Behind a proxy: --root-path").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from a2wsgi import WSGIMiddleware

from runtime.apptarget.wsgi_responder import Responder


def terminated_input(app: Any) -> Any:
    """`app` told that reading `wsgi.input` to its end is safe (see above)."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.input_terminated"] = True
        return app(environ, start_response)

    return wsgi


class WSGIApp(WSGIMiddleware):
    def __init__(self, app: Any, threads: int) -> None:
        super().__init__(terminated_input(app), workers=threads)
        self.threads = threads
        self.busy = 0  # HTTP requests held: running in a thread, or queued for one
        # Called (on the event loop) each time `saturated` flips; set by the app worker.
        self.on_saturation: Callable[[], None] | None = None

    @property
    def saturated(self) -> bool:
        return self.busy >= self.threads

    def occupancy(self) -> dict[str, Any]:
        """What the worker's heartbeat reports about the pool (runtime/worker/stats.py)."""
        return {
            "threads": self.threads,
            "threads_busy": min(self.busy, self.threads),
            "queued": max(0, self.busy - self.threads),
            "saturated": self.saturated,
        }

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        self._count(1)
        try:
            # a2wsgi's own http branch, with the responder extended for the loop hops
            await Responder(self.app, self.executor)(below_root(scope), receive, send)
        finally:
            self._count(-1)

    def _count(self, delta: int) -> None:
        was = self.saturated
        self.busy += delta
        if self.saturated != was and self.on_saturation is not None:
            self.on_saturation()


def below_root(scope: Any) -> Any:
    """The scope with the prefix taken off once when the client's own path kept it (uvicorn
    put `root_path` in front of it again: `/api/api/items`), as gunicorn strips
    `SCRIPT_NAME` from the request path; any other scope as it is."""
    root = scope.get("root_path") or ""
    path = scope.get("path") or ""
    twice = root + root
    if not root or not (path == twice or path.startswith(twice + "/")):
        return scope
    scope = dict(scope, path=path[len(root) :])
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw.startswith(twice.encode("latin-1", "replace")):
        scope["raw_path"] = raw[len(root.encode("latin-1", "replace")) :]
    return scope
