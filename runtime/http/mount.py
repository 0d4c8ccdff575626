"""`app.router.mount(prefix, asgi_app)`: a whole ASGI app (FastAPI, Starlette, Django...)
served under a prefix of an egg-style app, with its own streaming, WebSockets and lifespan.

The mounted app gets the raw ASGI `scope`/`receive`/`send` (no Context, no middleware of
ours), `root_path` extended by the prefix and `path` left whole, which is what Starlette
and Django expect of a mount (they strip `root_path` themselves). Its lifespan is driven
by the egg app's boot: startup after the app loaded (a failure fails the start like a
raising Boot hook), shutdown when the app closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.http.types import Receive, Scope, Send

if TYPE_CHECKING:
    from runtime.apptarget.lifespan import Lifespan


class Mount:
    def __init__(self, prefix: str, app: Any) -> None:
        if not prefix.startswith("/") or prefix == "/":
            raise ValueError(f"router.mount: prefix must start with '/' and not be '/': {prefix!r}")
        if not callable(app):
            raise TypeError(f"router.mount: {app!r} is not an ASGI application")
        self.prefix = prefix.rstrip("/")
        self.app = app
        self.lifespan: Lifespan | None = None

    def matches(self, path: str) -> bool:
        prefix = self.prefix
        return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root = scope.get("root_path", "")
        child = dict(scope)
        child["path"] = root + scope["path"]
        child["root_path"] = root + self.prefix
        if self.lifespan is not None:
            child["state"] = dict(self.lifespan.state)
        await self.app(child, receive, send)


class Mounts:
    """Every mount of one router, first registered wins (like routes)."""

    def __init__(self) -> None:
        self.items: list[Mount] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, prefix: str, app: Any) -> Mount:
        mount = Mount(prefix, app)
        self.items.append(mount)
        return mount

    def find(self, path: str) -> Mount | None:
        for mount in self.items:
            if mount.matches(path):
                return mount
        return None

    async def startup(self, base_dir: str) -> None:
        if not self.items:
            return
        from runtime.apptarget.lifespan import Lifespan  # ASGI target code: only with mounts

        for mount in self.items:
            mount.lifespan = Lifespan(
                mount.app, "auto", base_dir, what=f"router.mount({mount.prefix!r}) lifespan"
            )
            await mount.lifespan.startup()

    async def shutdown(self, timeout: float) -> None:
        for mount in reversed(self.items):
            if mount.lifespan is not None:
                await mount.lifespan.shutdown(timeout)
