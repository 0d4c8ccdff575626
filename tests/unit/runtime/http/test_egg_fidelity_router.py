"""egg fidelity (issue 10): egg-router's cases (url() with lists, redirect, routes with
several paths), the last two served over real HTTP."""

from __future__ import annotations

import pytest

from runtime.http.router import Router
from tests.fixtures.apptree import write_tree
from tests.fixtures.serve_thread import ThreadServer
from tests.helpers import free_port, request

# ---- 6: router.url with list values --------------------------------------------------------


def test_6_url_list_values():
    router = Router(app=None)
    router.get("/posts/:id/edit", lambda ctx: None, name="edit_post")
    url = router.url("edit_post", id=[10], page=[2], tags=["a", "b"])
    assert url == "/posts/10/edit?page=2&tags=a&tags=b"
    assert router.url("edit_post", id=[10, 11]) == "/posts/10/edit"


# ---- 21: redirect and routes with several paths, over real HTTP ----------------------------

REDIRECT_ROUTER = """
async def hello(ctx):
    ctx.body = "hello " + ctx.path


async def mark(ctx, next):
    await next()
    ctx.set("x-mark", "yes")


def router(app):
    app.router.get("/target", hello, name="target")
    app.router.redirect("/old", "/target")
    app.router.redirect("/temp", "target", 302)
    app.redirect("/app-level", "https://example.com/x", 307)
    app.router.get(["/url1", "/url2"], hello)
    app.router.get(["/mw1", "/mw2/:id"], mark, hello, name="multi")
"""


@pytest.fixture(scope="module")
def redirect_server(tmp_path_factory):
    root = write_tree(tmp_path_factory.mktemp("redirect"), {"app/router.py": REDIRECT_ROUTER})
    srv = ThreadServer(str(root), free_port()).start()
    yield srv
    srv.stop()


@pytest.mark.parametrize(
    ("method", "path", "status", "location"),
    [
        ("GET", "/old", 301, "/target"),
        ("POST", "/old", 301, "/target"),
        ("GET", "/temp", 302, "/target"),
        ("GET", "/app-level", 307, "https://example.com/x"),
    ],
)
def test_21_redirect(redirect_server, method, path, status, location):
    resp = request(redirect_server.port, path, method=method)
    assert (resp.status, resp.headers["location"]) == (status, location)


def test_21_several_paths_with_and_without_middleware(redirect_server):
    port = redirect_server.port
    assert request(port, "/url1").text == "hello /url1"
    assert request(port, "/url2").text == "hello /url2"
    for path in ("/mw1", "/mw2/5"):
        resp = request(port, path)
        assert (resp.text, resp.headers.get("x-mark")) == (f"hello {path}", "yes")
    assert redirect_server.app.router.url("multi") == "/mw1"
