"""egg fidelity (issue 10): loader, config and router cases translated from egg-core's and
egg-router's own tests. Each test names the issue item it pins down."""

from __future__ import annotations

import asyncio
import json
import os
import re

import pytest

from tests.fixtures.apptree import boot, boot_error, write_tree

BOOT_LOG = """
import os


class Boot:
    def __init__(self, app):
        self.app = app
        self._log("{unit}:init")

    def _log(self, name):
        with open(os.path.join(self.app.base_dir, "hooks.log"), "a") as fh:
            fh.write(name + "\\n")

    def did_load(self):
        self._log("{unit}:did_load")
        {did_load}

    def will_ready(self):
        self._log("{unit}:will_ready")
        {will_ready}

    def did_ready(self):
        self._log("{unit}:did_ready")
        {did_ready}

    def before_close(self):
        self._log("{unit}:before_close")
"""


def boot_file(unit: str, **hooks: str) -> str:
    text = BOOT_LOG.replace("{unit}", unit)
    for hook in ("did_load", "will_ready", "did_ready"):
        text = text.replace("{" + hook + "}", hooks.get(hook, "pass"))
    return text


# ---- 1: a plugin's own plugin.yaml `env` ---------------------------------------------------


def test_1_plugin_yaml_env_honoured_without_dependents(tmp_path):
    write_tree(
        tmp_path,
        {
            "config/plugin.py": 'plugin = {"metrics": {"path": "plugins/metrics"}}',
            "plugins/metrics/plugin.yaml": "name: metrics\nenv: [prod]\n",
        },
    )
    assert list(boot(tmp_path, env="local").plugins) == []
    assert list(boot(tmp_path, env="prod").plugins) == ["metrics"]


def test_1_dependency_on_plugin_whose_yaml_excludes_env_names_both(tmp_path):
    write_tree(
        tmp_path,
        {
            "config/plugin.py": 'plugin = {"a": {"path": "a"}, "b": {"path": "b"}}',
            "a/plugin.yaml": "dependencies: [b]\n",
            "b/plugin.yaml": "env: [prod]\n",
        },
    )
    assert "plugin 'a' depends on 'b', which is not for env 'local'" in boot_error(
        tmp_path, env="local"
    )


# ---- 5: optional dependency on an implicitly enabled plugin -------------------------------


def test_5_optional_dependency_on_implicitly_enabled_plugin_loads_after_it(tmp_path):
    """egg orders `tracelog` (optional: rpc_server) after `rpc_server`, which the framework
    disables and `gateway` (declared later) pulls in."""
    write_tree(
        tmp_path,
        {
            "fw/config/plugin.py": 'plugin = {"rpc_server": {"path": "../p/rpc_server", '
            '"enable": False}}',
            "config/plugin.py": 'plugin = {"tracelog": {"path": "p/tracelog"}, '
            '"gateway": {"path": "p/gateway"}}',
            "p/tracelog/plugin.yaml": "optional_dependencies: [rpc_server]\n",
            "p/rpc_server/plugin.yaml": "name: rpc_server\n",
            "p/gateway/plugin.yaml": "dependencies: [rpc_server]\n",
        },
    )
    order = list(boot(tmp_path, framework=str(tmp_path / "fw")).plugins)
    assert order == ["rpc_server", "tracelog", "gateway"], order


# ---- 7: names no attribute can reach -------------------------------------------------------


@pytest.mark.parametrize(
    "rel",
    ["app/service/dot.dir/a.py", "app/service/2fa.py", "app/controller/dot.dir/a.py"],
)
def test_7_unreachable_names_fail_naming_the_path(tmp_path, rel):
    body = (
        "from runtime import Service\n\nclass A(Service):\n    pass\n"
        if "service" in rel
        else "async def index(ctx):\n    pass\n"
    )
    write_tree(tmp_path, {rel: body})
    message = boot_error(tmp_path)
    bad = "dot.dir" if "dot.dir" in rel else "2fa"
    assert re.search(rf"{re.escape(bad)}'? cannot be loaded", message), message
    assert str(tmp_path) in message


def test_7_dashes_and_skipped_names_still_load(tmp_path):
    write_tree(
        tmp_path,
        {
            "app/service/audit-log.py": "from runtime import Service\n\nclass A(Service):\n"
            "    pass\n",
            "app/service/.hidden.dir/x.py": "raise SystemExit('never loaded')\n",
            "app/service/assets.d/readme.txt": "no python here",
        },
    )
    app = boot(tmp_path)
    assert "audit_log" in app.services


# ---- 9: cleanup after a failed boot; did_ready errors are logged --------------------------


@pytest.mark.parametrize("hook", ["did_load", "will_ready"])
def test_9_before_close_runs_after_a_failed_boot(tmp_path, hook):
    failing = boot_file("app", **{hook: "raise RuntimeError('boom')"})
    write_tree(
        tmp_path,
        {
            "config/plugin.py": 'plugin = {"p": {"path": "p"}}',
            "p/app.py": boot_file("p"),
            "app.py": failing,
        },
    )
    message = boot_error(tmp_path)
    assert f"Boot.{hook} in" in message and "boom" in message
    lines = (tmp_path / "hooks.log").read_text().split()
    assert lines[-2:] == ["app:before_close", "p:before_close"], lines


def test_9_raising_did_ready_is_logged_and_the_app_is_ready(tmp_path, caplog):
    write_tree(tmp_path, {"app.py": boot_file("app", did_ready="raise ValueError('late')")})
    with caplog.at_level("ERROR", logger="eggscripts.app"):
        app = boot(tmp_path)
    assert app.booted
    assert any("Boot.did_ready" in m for m in caplog.messages)


# ---- 10: extend env order ------------------------------------------------------------------


def test_10_plugin_env_extend_overrides_app_plain_extend(tmp_path):
    write_tree(
        tmp_path,
        {
            "config/plugin.py": 'plugin = {"p": {"path": "p"}}',
            "p/app/extend/application.unittest.py": "def who(self):\n    return 'plugin env'\n",
            "app/extend/application.py": "def who(self):\n    return 'app'\n",
        },
    )
    assert boot(tmp_path).who() == "plugin env"


# ---- 13: a directory framework's own relative framework ------------------------------------


def test_13_framework_directory_chain_is_relative_to_the_framework(tmp_path):
    write_tree(
        tmp_path,
        {
            "frameworks/base/config/config.default.py": "config = {'layer': 'base'}",
            "frameworks/top/pyproject.toml": '[tool.eggscripts]\nframework = "../base"\n',
            "frameworks/top/config/config.default.py": "config = {'top': True}",
            "app/pyproject.toml": '[tool.eggscripts]\nframework = "../frameworks/top"\n',
        },
    )
    app = boot(tmp_path / "app")
    assert [u.path for u in app.frameworks] == [
        str(tmp_path / "frameworks/base"),
        str(tmp_path / "frameworks/top"),
    ]
    assert app.config["layer"] == "base" and app.config["top"] is True


def test_14_missing_framework_named_in_pyproject_names_the_file(tmp_path):
    write_tree(tmp_path, {"pyproject.toml": '[tool.eggscripts]\nframework = "nope_fw_q"\n'})
    message = boot_error(tmp_path)
    assert f"framework 'nope_fw_q' (from {tmp_path}/pyproject.toml) is not installed" in message


# ---- 17, 18, 19: config sources ------------------------------------------------------------


def test_17_egg_app_config_is_merged_last(tmp_path, monkeypatch):
    write_tree(
        tmp_path,
        {
            "config/config.default.py": "config = {'db': {'host': 'a', 'port': 1}, 'x': 1}",
            "config/config.unittest.py": "config = {'db': {'port': 2}}",
        },
    )
    monkeypatch.setenv("EGG_APP_CONFIG", json.dumps({"db": {"host": "b"}, "y": [1]}))
    app = boot(tmp_path)
    assert app.config["db"] == {"host": "b", "port": 2}
    assert app.config["x"] == 1 and app.config["y"] == [1]
    assert app.config_meta["db.host"] == "EGG_APP_CONFIG"
    monkeypatch.setenv("EGG_APP_CONFIG", "[1]")
    assert "EGG_APP_CONFIG must be a JSON object" in boot_error(tmp_path)
    monkeypatch.setenv("EGG_APP_CONFIG", "{nope")
    assert "EGG_APP_CONFIG is not valid JSON" in boot_error(tmp_path)


def test_17_egg_plugins_is_merged_over_the_plugin_config(tmp_path, monkeypatch):
    write_tree(
        tmp_path,
        {
            "config/plugin.py": 'plugin = {"a": {"path": "a"}, "b": {"path": "b", '
            '"enable": False}}',
            "a/plugin.yaml": "name: a\n",
            "b/plugin.yaml": "name: b\n",
            "c/plugin.yaml": "name: c\n",
        },
    )
    monkeypatch.setenv("EGG_PLUGINS", json.dumps({"a": False, "b": True, "c": {"path": "c"}}))
    assert list(boot(tmp_path).plugins) == ["b", "c"]
    monkeypatch.setenv("EGG_PLUGINS", "nope")
    assert "EGG_PLUGINS is not valid JSON" in boot_error(tmp_path)


def test_18_plugin_default_replaces_plugin(tmp_path, caplog):
    write_tree(
        tmp_path,
        {
            "config/plugin.default.py": 'plugin = {"a": {"path": "a"}}',
            "config/plugin.py": 'plugin = {"b": {"path": "b"}}',
            "a/plugin.yaml": "name: a\n",
            "b/plugin.yaml": "name: b\n",
        },
    )
    with caplog.at_level("WARNING", logger="eggscripts.app"):
        assert list(boot(tmp_path).plugins) == ["a"]
    assert any("plugin.py is ignored" in m for m in caplog.messages)


def test_19_config_function_receives_the_app_config(tmp_path):
    write_tree(
        tmp_path,
        {
            "config/plugin.py": 'plugin = {"p": {"path": "p"}}',
            "p/config/config.default.py": """
                def config(app_info, app_config):
                    return {"p": {"sees": app_config.get("wanted"), "name": app_info.name}}
            """,
            "config/config.default.py": "def config(app_info, app_config):\n"
            "    return {'wanted': 'from default', 'own_arg': app_config}\n",
            "config/config.unittest.py": "config = {'wanted': 'from env'}",
        },
    )
    app = boot(tmp_path, name="demo")
    assert app.config["p"] == {"sees": "from env", "name": "demo"}
    assert app.config["own_arg"] is None  # the app's own functions get None, as in egg


# ---- 20: path_name and full_path -----------------------------------------------------------


def test_20_controller_and_service_expose_path_name_and_full_path(tmp_path):
    write_tree(
        tmp_path,
        {
            "app/controller/admin/users.py": """
                from runtime import Controller

                class Users(Controller):
                    async def index(self):
                        self.ctx.body = {"path_name": self.path_name, "full_path": self.full_path,
                                         "service": self.service.audit.path_name}
            """,
            "app/service/audit.py": "from runtime import Service\n\nclass A(Service):\n    pass\n",
        },
    )
    app = boot(tmp_path)
    ctx = app.context_class(app, {"type": "http", "path": "/", "headers": []}, None)
    asyncio.run(app.controller.admin.users.index(ctx))
    assert ctx.body == {
        "path_name": "controller.admin.users",
        "full_path": str(tmp_path / "app/controller/admin/users.py"),
        "service": "service.audit",
    }


# ---- 22: warnings instead of failures ------------------------------------------------------


def test_22_redefining_a_framework_plugin_with_the_same_path_is_quiet(tmp_path, caplog):
    """Issue 20 item 4 turned this warning around: the same settings again say nothing; a
    different place warns (tests/unit/runtime/loader/test_egg_fidelity_round2.py)."""
    write_tree(
        tmp_path,
        {
            "fw/config/plugin.py": 'plugin = {"p": {"path": "../p"}}',
            "config/plugin.py": 'plugin = {"p": {"path": "p"}}',
            "p/plugin.yaml": "name: p\n",
        },
    )
    with caplog.at_level("WARNING", logger="eggscripts.app"):
        app = boot(tmp_path, framework=str(tmp_path / "fw"))
    assert list(app.plugins) == ["p"]
    assert not any("plugin 'p'" in m for m in caplog.messages), caplog.messages


def test_22_depending_on_an_app_disabled_plugin_still_fails(tmp_path):
    """Kept difference: the app's explicit `False` is honoured."""
    write_tree(
        tmp_path,
        {
            "config/plugin.py": 'plugin = {"a": {"path": "a"}, "b": {"path": "b", '
            '"enable": False}}',
            "a/plugin.yaml": "dependencies: [b]\n",
            "b/plugin.yaml": "name: b\n",
        },
    )
    assert "which is disabled by the app" in boot_error(tmp_path)


# ---- 23: home and real plugin paths ----------------------------------------------------------


def test_23_home_from_egg_home_then_home_then_home_admin(tmp_path, monkeypatch):
    write_tree(tmp_path, {"config/config.default.py": "config = {}"})
    monkeypatch.setenv("EGG_HOME", "/srv/egg-home")
    assert boot(tmp_path).app_info.home == "/srv/egg-home"
    monkeypatch.delenv("EGG_HOME")
    monkeypatch.setenv("HOME", "/srv/home")
    assert boot(tmp_path).app_info.home == "/srv/home"
    monkeypatch.delenv("HOME")
    app = boot(tmp_path, env="prod")
    assert app.app_info.home == "/home/admin" and app.app_info.root == "/home/admin"


def test_23_plugin_path_is_the_real_path(tmp_path):
    write_tree(
        tmp_path,
        {"real/p/plugin.yaml": "name: p\n", "config/plugin.py": 'plugin = {"p": {"path": "p"}}'},
    )
    os.symlink(tmp_path / "real/p", tmp_path / "p")
    app = boot(tmp_path)
    assert app.plugins["p"].path == str(tmp_path / "real/p")
