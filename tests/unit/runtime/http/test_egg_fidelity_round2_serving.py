"""egg fidelity, round two (issue 20), served for real: a failed boot in a real worker,
controllers as objects and `router.url`/`path_for` over HTTP, what counts as an app (the
CLI starting real clusters), and the docs' one list of differences. Each test names the
issue item it pins down and the egg case it translates (egg-core's test/, egg-scripts')."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from runtime.http.router import Router
from tests.fixtures.apptree import write_tree
from tests.fixtures.serve_thread import ThreadServer
from tests.helpers import ROOT, free_port, request

# ---- 1: a failed boot in a real worker ------------------------------------------------------


# ---- 2: controllers as plain objects (egg's "controller is object") ------------------------

OBJECT_CONTROLLER = """
from types import SimpleNamespace


def helper(ctx):  # a plain def at module level is a helper, not a handler
    ctx.body = "done"


async def call_async_function(ctx):
    ctx.body = await ctx.service.home.info()


sub_object = {
    "call_plain_function": helper,
    "call_function": call_async_function,
    "sub_sub_object": SimpleNamespace(call_function=lambda ctx: setattr(ctx, "body", "deep")),
    "nofunction": "done",
}

resource_object = SimpleNamespace(
    index=lambda ctx: setattr(ctx, "body", "index"),
    create=lambda ctx: setattr(ctx, "body", "create"),
)

NOT_A_CONTROLLER = {"limit": 5}
"""

OBJECT_ROUTER = """
def router(app):
    app.router.get("/object-function", "object.sub_object.call_plain_function")
    app.router.get("/object-async-function", "object.call_async_function")
    app.router.get("/subObject-function", "object.sub_object.call_function")
    deep = app.controller.object.sub_object.sub_sub_object
    app.router.get("/subSubObject-function", deep.call_function)
    app.router.resources("/resources-object", app.controller.object.resource_object)
"""


@pytest.fixture(scope="module")
def object_server(tmp_path_factory):
    root = write_tree(
        tmp_path_factory.mktemp("objects"),
        {
            "app/controller/object.py": OBJECT_CONTROLLER,
            "app/service/home.py": "from runtime import Service\n\n\nclass Home(Service):\n"
            "    async def info(self):\n        return 'done async'\n",
            "app/router.py": OBJECT_ROUTER,
        },
    )
    srv = ThreadServer(str(root), free_port()).start()
    yield srv
    srv.stop()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/object-function", "done"),  # 'should define method which is function'
        ("/object-async-function", "done async"),  # '... which is async function'
        ("/subObject-function", "done async"),  # 'should define method on subObject'
        ("/subSubObject-function", "deep"),  # '... on subObject.subSubObject'
    ],
)
def test_2_controller_is_object_routes(object_server, path, body):
    """load_controller.test.ts 'when controller is object'."""
    assert request(object_server.port, path).text == body


def test_2_controller_object_skips_what_is_not_a_function(object_server):
    """'should not load properties that are not function'."""
    controller = object_server.app.controller.object
    assert not hasattr(controller.sub_object, "nofunction")
    assert not hasattr(controller, "NOT_A_CONTROLLER")
    assert not hasattr(controller, "helper")
    with pytest.raises(AttributeError, match=r"app.controller.object has no 'missing' \(it has"):
        controller.missing  # noqa: B018 - the message names what there is


def test_2_controller_object_matches_resources(object_server):
    """'should match app.resources'."""
    port = object_server.port
    assert request(port, "/resources-object").text == "index"
    assert request(port, "/resources-object", method="POST").text == "create"
    assert request(port, "/resources-object/1", method="POST").status == 404


# ---- 3: router.url() with missing parameters or an unknown name -----------------------------


def egg_router_app() -> Router:
    """egg-core's test/fixtures/router-app routes that `router.url` is asked about."""
    router = Router(app=None)

    def handler(ctx: object) -> None:
        return None

    router.resources(
        "posts", "/posts", SimpleNamespace(index=handler, new=handler, show=handler, edit=handler)
    )
    router.resources(
        "members", "/members", SimpleNamespace(index=handler, new=handler, show=handler)
    )
    router.get("/params/:a/:b", handler, name="params")
    router.get(re.compile(r"^/packages/(?P<name>.*)$"), handler, name="packages")
    return router


def test_3_router_url_should_work():
    """utils/router.test.ts 'router.url: should work' (the names are the Python spelling)."""
    router = egg_router_app()
    assert router.url("posts") == "/posts"
    assert router.url("members") == "/members"
    assert router.url("post", id=1) == "/posts/1"
    assert router.url("member", id=1) == "/members/1"
    assert router.url("new_post") == "/posts/new"
    assert router.url("new_member") == "/members/new"
    assert router.url("edit_post", id=1) == "/posts/1/edit"
    assert router.url("params", a=1, b=2) == "/params/1/2"
    # no match params
    assert router.url("edit_post") == "/posts/:id/edit"
    assert router.url("params", a=1) == "/params/1/:b"
    assert router.url("noname") == ""


def test_3_router_url_with_unknown_params():
    """'router.url: should work with unknow params'."""
    router = egg_router_app()
    assert router.url("posts", name="foo", page=2) == "/posts?name=foo&page=2"
    assert router.url("posts", name="foo&?", page=2) == "/posts?name=foo%26%3F&page=2"
    assert router.url("edit_post", id=10, page=2) == "/posts/10/edit?page=2"
    assert router.url("edit_post", i=2, id=10) == "/posts/10/edit?i=2"


def test_3_router_url_should_not_support_regular_url():
    """'router.url: should not support regular url' (egg asserts; so do we)."""
    with pytest.raises(ValueError, match="is a regex"):
        egg_router_app().url("packages", name="urllib")


HELPER_ROUTER = """
async def links(ctx):
    ctx.body = "|".join([
        ctx.helper.path_for("edit_post"),
        ctx.helper.path_for("edit_post", id=3),
        ctx.helper.path_for("typo"),
        ctx.helper.url_for("edit_post", page=2),
    ])


def router(app):
    app.router.get("/posts/:id/edit", links, name="edit_post")
    app.router.get("/links", links)
"""


def test_3_helper_path_for_never_answers_500(tmp_path):
    """'router.pathFor' through the template helper, over real HTTP."""
    write_tree(tmp_path, {"app/router.py": HELPER_ROUTER})
    srv = ThreadServer(str(tmp_path), free_port()).start()
    try:
        resp = request(srv.port, "/links")
    finally:
        srv.stop()
    assert resp.status == 200
    assert resp.text == "/posts/:id/edit|/posts/3/edit||/posts/:id/edit?page=2"


# ---- 6: what counts as an app ---------------------------------------------------------------


# ---- 9: one "Differences from egg" section ------------------------------------------------


def test_9_differences_from_egg_are_listed_in_one_section_each_with_a_reason():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    holders = [p.name for p in docs if "\n## Differences from egg\n" in p.read_text()]
    guide = (ROOT / "docs" / "APP_GUIDE.md").read_text()
    section = guide.split("\n## Differences from egg\n", 1)[1].split("\n## ", 1)[0]
    assert holders.count("APP_GUIDE.md") == 1
    others = [name for name in holders if name != "APP_GUIDE.md"]
    for name in others:  # a pointer at most, never a second list
        text = (ROOT / "docs" / name).read_text().split("\n## Differences from egg\n", 1)[1]
        assert "|---|" not in text.split("\n## ", 1)[0], name
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    rows = [row for row in rows if not row.startswith("| case ")]
    for row in rows:  # case | egg | eggscripts | why: the reason is never empty
        cells = [cell.strip() for cell in row.strip().strip("|").split(" | ")]
        assert len(cells) == 4 and all(cells), row
    for topic in (
        "worker ids",
        "`cluster.listen.path`",
        "`EGG_APP_CONFIG` or `EGG_PLUGINS`",
        "disabled by the app",
        "`stop LINK`",
        "the directory name",
    ):
        assert topic in section, topic
