"""The request path's shortcuts keep Koa's behaviour: the Context the ASGI entry makes
(its class's own `__init__` included), `next` as a bound method, a path rewrite
re-routing a precomposed route, lazy fields that may hold falsy values."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from runtime.http.context import Context
from tests.fixtures.apptree import boot, write_tree

MW = """
def middleware(options, app):
    async def mw(ctx, next):
        app.seen.append({name: getattr(ctx, name) for name in app.slot_names})
        app.nexts.append(next)
        if ctx.path == "/old":
            ctx.scope["path"] = "/new"
        await next()
    return mw
"""
HOME = """
async def old(ctx):
    ctx.body = "old"

async def new(ctx):
    ctx.body = "new"

async def echo(ctx):
    first = ctx.request.body
    ctx.body = {"first": first, "again": ctx.request.body, "query": ctx.query, "p": ctx.params}

async def opt(ctx):
    ctx.body = ctx.params
"""
ROUTER = """
def router(app):
    app.router.get("/old", app.controller.home.old)
    app.router.get("/new", app.controller.home.new)
    app.router.post("/echo", app.controller.home.echo)
    app.router.get("/opt/:a/:b?", app.controller.home.opt)
    app.router.get("/req/:a/:b", app.controller.home.opt)
"""


def _app(tmp_path: Any) -> Any:
    write_tree(
        tmp_path,
        {
            "config/config.default.py": "config = {'middleware': ['mw']}",
            "app/middleware/mw.py": MW,
            "app/controller/home.py": HOME,
            "app/router.py": ROUTER,
        },
    )
    app = boot(tmp_path)
    app.seen, app.nexts = [], []
    app.slot_names = [n for n in Context.__slots__ if n != "__dict__"]
    return app


def _call(app: Any, method: str, path: str, body: bytes = b"", **scope: Any) -> tuple[int, Any]:
    sent: list[dict[str, Any]] = []
    headers = [(b"content-type", b"application/json")] if body else []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    base = {"type": "http", "method": method, "path": path, "query_string": b"", "headers": headers}
    asyncio.run(app.asgi({**base, **scope}, receive, send))
    return sent[0]["status"], sent[1]["body"]


def test_entry_context_matches_init(tmp_path):
    app = _app(tmp_path)
    assert _call(app, "GET", "/new") == (200, b"new")
    reference = app.context_class(app, {}, None)
    expected = {n: getattr(reference, n) for n in app.slot_names}
    seen = dict(app.seen[0])
    assert seen.pop("scope")["path"] == "/new"
    assert callable(seen.pop("_receive"))
    assert seen == {k: v for k, v in expected.items() if k not in ("scope", "_receive")}


def test_a_context_init_of_its_own_is_called(tmp_path):
    app = _app(tmp_path)
    calls = []

    class Own(app.context_class):
        __slots__ = ()

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            calls.append(self)

    app.context_class = Own
    app.install_asgi()
    assert _call(app, "GET", "/new") == (200, b"new")
    assert len(calls) == 1 and isinstance(calls[0], Own)


def test_next_is_a_plain_callable_returning_an_awaitable(tmp_path):
    app = _app(tmp_path)
    _call(app, "GET", "/new")
    nxt = app.nexts[0]
    assert callable(nxt) and not asyncio.iscoroutinefunction(nxt)


def test_rewritten_path_is_routed_again(tmp_path):
    app = _app(tmp_path)
    assert _call(app, "GET", "/old") == (200, b"new")


def test_falsy_lazy_fields_are_computed_once(tmp_path):
    app = _app(tmp_path)
    status, body = _call(app, "POST", "/echo", b"null")
    assert status == 200
    assert json.loads(body) == {"first": None, "again": None, "query": {}, "p": {}}


def test_optional_and_required_params(tmp_path):
    app = _app(tmp_path)
    assert json.loads(_call(app, "GET", "/opt/x")[1]) == {"a": "x"}
    assert json.loads(_call(app, "GET", "/opt/x/y")[1]) == {"a": "x", "b": "y"}
    assert json.loads(_call(app, "GET", "/req/x/y")[1]) == {"a": "x", "b": "y"}


def test_url_shortcuts_match_urlencode():
    from urllib.parse import urlencode

    from runtime.http.router import Router

    async def h(ctx: Any) -> None:
        return None

    router = Router(None)
    router.get("/s", h, name="s")
    router.get("/u/:id", h, name="u")
    assert router.url("s") == "/s"
    assert router.url("u", id="abc") == "/u/abc"
    assert router.url("u", id="a b/é") == "/u/a%20b%2F%C3%A9"
    for query in ({"page": "2"}, {"q": "a b"}, {"t": ["x", "y"]}, {"n": 3}, {"e": ""}):
        assert router.url("s", **query) == "/s?" + urlencode(query, doseq=True)
        assert router.url("u", id="1", **query) == "/u/1?" + urlencode(query, doseq=True)
