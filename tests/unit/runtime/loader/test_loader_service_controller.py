"""Services, controllers, middleware and router through the loader, checked over HTTP."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.apptree import FULL, boot, boot_error, write_tree
from tests.fixtures.serve_thread import ThreadServer
from tests.helpers import free_port, request


@pytest.fixture(scope="module")
def server():
    srv = ThreadServer(str(FULL), free_port()).start()
    yield srv
    srv.stop()


def test_services_lazy_once_per_request_from_every_unit(server):
    first = request(server.port, "/services").json()
    second = request(server.port, "/services").json()
    assert first["same_instance"] is True and first["app_is_app"] is True
    assert first["audit"] == ["/services", "full-app", "app-env"]
    assert first["plugin"] == 7 and first["framework"] == "sofa"
    assert second["created"] == first["created"] + 1  # one UserService per request


def test_service_tree(server):
    tree = server.app.services
    assert set(tree) == {"user", "admin", "soft", "fw_info"}
    assert set(tree["admin"]) == {"audit_log"}


def test_controllers_functions_classes_nested(server):
    ctl = server.app.controller
    assert {"index", "services"} <= set(vars(ctl.home))
    assert "_private" not in vars(ctl.home) and "sync_helper" not in vars(ctl.home)
    assert set(k for k in vars(ctl.admin.users) if not k.startswith("_")) == {
        "index",
        "show",
        "new",
    }
    assert request(server.port, "/admin/users").json() == ["u1"]
    assert request(server.port, "/admin/users/new").text == "sync new"
    show = request(server.port, "/admin/users/9").json()
    assert show == {"id": "9", "svc": {"id": 1, "by": "UserService"}}
    assert request(server.port, "/admin/users/9/edit").status == 404  # no edit action
    assert request(server.port, "/by-string").status == 200


def test_middleware_order_and_match_ignore(server):
    trail = request(server.port, "/").json()["trail"]
    assert trail == ["sofa_mark", "local_mark", "app", "not_static"]  # "app": its options
    assert request(server.port, "/").headers["x-sofa"] == "1"
    assert request(server.port, "/api/x").json()["trail"] == [
        "sofa_mark",
        "local_mark",
        "app",
        "api_only",
        "not_static",
    ]
    for ignored in ("/static/a.txt", "/static/a.png", "/img/b.png"):  # prefix, regex
        assert request(server.port, ignored).json()["trail"][-1] == "app"
    assert [n for n, _ in server.app.middleware] == [
        "sofa_mark",
        "local_mark",
        "app_trail",
        "api_only",
        "not_static",
    ]


def test_router_url_for_resources(server):
    url = server.app.router.url
    assert url("users") == "/admin/users"
    assert url("user", id=5) == "/admin/users/5"
    assert url("new_user") == "/admin/users/new"
    assert url("home", page=2, tag=["a", "b"]) == "/?page=2&tag=a&tag=b"


def test_static_routes_get_their_own_onion(tmp_path):
    """Each static route is precomposed with only the layers its path can meet: none for
    `/` (its handler is called directly), `m` for `/api/v`."""
    write_tree(
        tmp_path,
        {
            "config/config.default.py": "config = {'middleware': ['m'], 'm': {'match': '/api'}}",
            "app/middleware/m.py": "def middleware(o, app):\n"
            "    async def m(ctx, next):\n        await next()\n    return m\n",
            "app/controller/h.py": "async def a(ctx):\n    ctx.body = 'a'\n",
            "app/router.py": "def router(app):\n    app.router.get('/', app.controller.h.a)\n"
            "    app.router.get('/api/v', app.controller.h.a)\n",
        },
    )
    app = boot(tmp_path)
    handler = app.controller.h.a
    assert app.fast_routes["/"] == {"GET": handler, "HEAD": handler}
    assert app.fast_routes["/api/v"]["GET"] is not handler


M = "app/middleware/m.py"
MW_OK = (
    "def middleware(options, app):\n    async def m(ctx, next):\n        await next()\n"
    "    return m\n"
)
BOTH = "config = {'middleware': ['m'], 'm': {'match': '/a', 'ignore': '/b'}}"


@pytest.mark.parametrize(
    ("files", "pattern"),
    [
        (
            {"config/config.default.py": "config = {'middleware': ['ghost']}"},
            r"middleware 'ghost' \(listed in .*config.default.py\) not found",
        ),
        (
            {"config/config.default.py": "config = {'middleware': ['m', 'm']}", M: MW_OK},
            r"middleware 'm' is listed twice",
        ),
        (
            {
                "config/config.default.py": BOTH,
                M: MW_OK,
            },
            r"config.default.py: middleware 'm' sets both `match` and `ignore`",
        ),
        (
            {
                "config/config.default.py": "config = {'middleware': ['m']}",
                M: "def middleware(options, app):\n    return 42\n",
            },
            r"m.py: middleware\(\) must return",
        ),
        (
            {
                "config/config.default.py": "config = {'middleware': ['m']}",
                M: "def middleware(options, app):\n    raise ValueError('bad opts')\n",
            },
            r"middleware 'm': .*app/middleware/m.py:2: ValueError: bad opts",
        ),
        (
            {"config/config.default.py": "config = {'middleware': ['m']}", M: "x = 1\n"},
            r"m.py: defines no `def middleware\(options, app\)`",
        ),
        (
            {"config/config.default.py": "config = {'middleware': 'm'}", M: MW_OK},
            r"`middleware` must be a list of names",
        ),
        (
            {
                "config/config.default.py": "config = {'middleware': ['m'], 'm': {'match': 5}}",
                M: MW_OK,
            },
            r"middleware 'm': .*TypeError: match/ignore must be",
        ),
        (
            {
                "app/service/a.py": "from runtime import Service\nclass A(Service): pass\n"
                "class B(Service): pass\n"
            },
            r"service/a.py: defines 2 Service subclasses \(A, B\)",
        ),
        ({"app/service/a.py": "x = 1\n"}, r"service/a.py: defines no Service subclass"),
        (
            {
                "config/plugin.py": "plugin = {'p': {'path': 'p'}}",
                "p/app/service/dup.py": "from runtime import Service\nclass D(Service): pass\n",
                "app/service/dup.py": "from runtime import Service\nclass D(Service): pass\n",
            },
            r"service 'dup' is defined twice: .*/p/app/service/dup.py and .*/app/service/dup.py",
        ),
        (
            {
                "app/controller/c.py": "from runtime import Controller\n"
                "class A(Controller): pass\nclass B(Controller): pass\n"
            },
            r"controller/c.py: defines 2 Controller subclasses",
        ),
        ({"app/router.py": "x = 1\n"}, r"router.py: defines no `def router\(app\)`"),
        (
            {"app/router.py": "def router(app):\n    app.router.get('/', app.controller.nope.x)\n"},
            r"app/router.py:2: AttributeError: .*nope",
        ),
        (
            {"app/router.py": "def router(app):\n    app.router.get('/', 'a.b')\n"},
            r"app/router.py:2: ValueError: router: no controller 'a.b'",
        ),
    ],
)
def test_app_code_errors(tmp_path, files, pattern):
    write_tree(tmp_path, files)
    message = boot_error(tmp_path)
    assert re.search(pattern, message), message


def test_middleware_enable_false_skips_building(tmp_path):
    write_tree(
        tmp_path,
        {
            "config/config.default.py": "config = {'middleware': ['m'], 'm': {'enable': False}}",
            M: "def middleware(options, app):\n    raise RuntimeError('built')\n",
        },
    )
    assert boot(tmp_path).middleware == []
