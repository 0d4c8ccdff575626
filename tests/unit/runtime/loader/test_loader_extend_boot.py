"""Extends (targets, precedence, env variants) and Boot hooks (order, errors, agent)."""

from __future__ import annotations

import asyncio
import re

import pytest

from runtime.http.context import Context
from tests.fixtures.apptree import FULL, boot, boot_error, write_tree


@pytest.fixture(scope="module")
def full():
    return boot(FULL)


def test_extend_targets(full):
    ctx = full.context_class(full, {"type": "http", "path": "/x", "headers": []}, None)
    assert full.describe() == "full-app@unittest"
    assert ctx.shouting_path == "/X"
    assert ctx.env_extend() == "unittest"  # context.unittest.py
    assert ctx.helper.shout("hi") == "HI!"  # from the local plugin
    ctx.scope["headers"] = [(b"content-type", b"application/json")]
    assert ctx.request.is_json is True
    ctx.response.no_cache()
    assert ctx.response.get("cache-control") == "no-store"


def test_extend_precedence_app_over_plugin_over_framework(full):
    ctx = full.context_class(full, {"type": "http"}, None)
    assert ctx.who() == "app"
    assert ctx.cushion_only() == "cushion" and ctx.sofa_only() == "sofa"


def test_extends_stay_private_to_their_app(full):
    assert not hasattr(Context, "who")
    other = boot(FULL.parent.parent / "http_app")
    assert not hasattr(other.context_class, "who")
    assert hasattr(full.context_class, "who")


def test_agent_extend():
    agent = boot(FULL, role="agent")
    assert agent.agent_hello() == "agent full-app"
    assert not hasattr(agent, "describe")


def test_extend_cannot_replace_builtin_fields(tmp_path):
    write_tree(tmp_path, {"app/extend/context.py": "def _x(self): pass\n\napp = property(_x)\n"})
    assert re.search(r"app/extend/context.py: cannot extend 'app'", boot_error(tmp_path))


def test_boot_hook_order(full):
    assert full.boot_order == [
        "local:init",
        "cushion:init",
        "sofa:init",
        "app:init",
        "app:config_will_load",
        "app:config_did_load",
        "local:did_load",
        "cushion:did_load",
        "sofa:did_load",
        "app:did_load",
        "app:will_ready",
        "app:did_ready",
    ]


def test_server_did_ready_and_before_close_reverse():
    app = boot(FULL)
    del app.boot_order[:]
    asyncio.run(app.server_did_ready())
    asyncio.run(app.close())
    asyncio.run(app.close())  # idempotent
    assert app.boot_order == [
        "app:server_did_ready",
        "app:before_close",
        "sofa:before_close",
        "cushion:before_close",
        "local:before_close",
    ]


def test_agent_boot_uses_agent_py():
    agent = boot(FULL, role="agent")
    assert agent.boot_order == ["sofa:agent", "app:agent"]


@pytest.mark.parametrize(
    ("files", "pattern"),
    [
        (
            {
                "app.py": "class Boot:\n    def __init__(self, app):\n        pass\n\n"
                "    async def did_load(self):\n        raise RuntimeError('nope')\n"
            },
            r"Boot.did_load in .*/app.py failed: .*/app.py:6: RuntimeError: nope",
        ),
        (
            {
                "app.py": "class Boot:\n    def __init__(self, app):\n        pass\n\n"
                "    def will_ready(self):\n        {}['k']\n"
            },
            r"Boot.will_ready in .*/app.py failed: .*/app.py:6: KeyError: 'k'",
        ),
        (
            {"app.py": "class Boot:\n    def __init__(self):\n        pass\n"},
            r"Boot\(\) in .*/app.py failed: .*TypeError",
        ),
        ({"app.py": "Boot = 1\n"}, r"app.py: Boot must be a class"),
        (
            {"app.py": "import nonexistent_module_q\n"},
            r"/app.py:1: ModuleNotFoundError: No module named 'nonexistent_module_q'",
        ),
    ],
)
def test_boot_errors_name_file_and_hook(tmp_path, files, pattern):
    write_tree(tmp_path, files)
    message = boot_error(tmp_path)
    assert re.search(pattern, message), message


def test_agent_boot_error(tmp_path):
    write_tree(
        tmp_path,
        {
            "agent.py": "class Boot:\n    def __init__(self, a):\n        pass\n\n"
            "    def will_ready(self):\n        raise ValueError('agent hook')\n",
        },
    )
    assert re.search(
        r"Boot.will_ready in .*/agent.py failed: .*agent.py:6: ValueError: agent hook",
        boot_error(tmp_path, role="agent"),
    )
    boot(tmp_path)  # the app workers do not run agent.py


def test_before_close_errors_are_logged_not_raised(tmp_path, caplog):
    write_tree(
        tmp_path,
        {
            "app.py": "class Boot:\n    def __init__(self, app):\n        self.app = app\n\n"
            "    def before_close(self):\n        raise RuntimeError('close fail')\n",
        },
    )
    app = boot(tmp_path)
    with caplog.at_level("ERROR", logger="eggscripts.app"):
        asyncio.run(app.close())
    assert any("before_close" in r.getMessage() for r in caplog.records)
