"""Router: resources mapping, patterns, names, url(); served over real HTTP."""

from __future__ import annotations

import pytest

from runtime.http.router import Router, compile_path
from tests.fixtures.apptree import write_tree
from tests.fixtures.serve_thread import ThreadServer
from tests.helpers import free_port, request

POSTS = """
from runtime import Controller


class Posts(Controller):
    async def index(self):
        self.ctx.body = "index"

    async def new(self):
        self.ctx.body = "new"

    async def create(self):
        self.ctx.body = "create"

    async def show(self):
        self.ctx.body = "show " + self.ctx.params["id"]

    async def edit(self):
        self.ctx.body = "edit " + self.ctx.params["id"]

    async def update(self):
        self.ctx.body = f"update {self.ctx.params['id']} {self.ctx.method}"

    async def destroy(self):
        self.ctx.body = "destroy " + self.ctx.params["id"]
"""
ROUTER = """
import re


async def star(ctx):
    ctx.body = ctx.params


def router(app):
    app.router.resources("posts", "/api/posts", app.controller.posts)
    app.router.resources("/short", "posts")
    app.router.get("/files/*", star)
    app.router.get("/opt/:a/:b?", star, name="opt")
    app.router.get(re.compile(r"^/re/(?P<year>\\d{4})$"), star)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = write_tree(
        tmp_path_factory.mktemp("router"),
        {
            "app/controller/posts.py": POSTS,
            "app/router.py": ROUTER,
        },
    )
    srv = ThreadServer(str(root), free_port()).start()
    yield srv
    srv.stop()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/posts", "index"),
        ("GET", "/api/posts/new", "new"),
        ("POST", "/api/posts", "create"),
        ("GET", "/api/posts/7", "show 7"),
        ("GET", "/api/posts/7/edit", "edit 7"),
        ("PUT", "/api/posts/7", "update 7 PUT"),
        ("PATCH", "/api/posts/7", "update 7 PATCH"),
        ("DELETE", "/api/posts/7", "destroy 7"),
        ("GET", "/short/3", "show 3"),
    ],
)
def test_resources_mapping(server, method, path, body):
    resp = request(server.port, path, method=method)
    assert (resp.status, resp.text) == (200, body)


def test_resources_names(server):
    url = server.app.router.url
    assert url("posts") == "/api/posts"
    assert url("new_post") == "/api/posts/new"
    assert url("post", id=4) == "/api/posts/4"
    assert url("edit_post", id=4, x=1) == "/api/posts/4/edit?x=1"
    assert request(server.port, "/api/posts", method="DELETE").status == 404


def test_star_optional_and_regex_routes(server):
    assert request(server.port, "/files/a/b.txt").json() == {"_0": "a/b.txt"}
    assert request(server.port, "/opt/1").json() == {"a": "1"}
    assert request(server.port, "/opt/1/2").json() == {"a": "1", "b": "2"}
    assert request(server.port, "/re/2024").json() == {"year": "2024"}
    assert request(server.port, "/re/24").status == 404
    assert server.app.router.url("opt", a="x y") == "/opt/x%20y"


def test_url_errors():
    router = Router(app=None)

    async def h(ctx):
        pass

    router.get("/u/:id", h, name="u")
    assert router.url("u") == "/u/:id"  # egg's answers, see test_egg_fidelity_round2.py
    assert router.url("zz") == ""
    with pytest.raises(KeyError, match="no route named 'zz'"):
        router.redirect("/old", "zz")
    with pytest.raises(TypeError, match="has no handler"):
        router.get("/x")
    with pytest.raises(TypeError, match="must be callable"):
        router.get("/x", 3)


def test_static_paths_compile_to_nothing():
    assert compile_path("/a/b") is None
    assert compile_path("/a/:b").match("/a/x").groupdict() == {"b": "x"}
