"""Plugins (declaration, resolution, dependency order, errors) and frameworks (chain,
classes, units)."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.apptree import FULL, boot, boot_error, write_tree


def plugin_app(tmp_path, plugin_py, metas, extra=None):
    """An app whose config/plugin.py is `plugin_py`; `metas` = {dir: plugin.yaml text}."""
    files = {"config/plugin.py": plugin_py}
    for name, meta in metas.items():
        files[f"plugins/{name}/plugin.yaml"] = meta
        files[f"plugins/{name}/config/config.default.py"] = f"config = {{'{name}': True}}"
    files.update(extra or {})
    return write_tree(tmp_path, files)


def test_full_app_units_in_order():
    app = boot(FULL)
    assert list(app.plugins) == ["local", "cushion", "needs"]  # cushion optional-depends on local
    assert [u.name for u in app.loader.units] == [
        "local",
        "cushion",
        "needs",
        "sofa",
        "chair",
        "full-app",
    ]
    assert "ghost" not in app.plugins  # disabled by the framework and nobody needs it


def test_dependencies_come_first(tmp_path):
    plugin_app(
        tmp_path,
        """
        plugin = {
            "a": {"path": "plugins/a"},
            "b": {"path": "plugins/b"},
            "c": {"path": "plugins/c"},
        }
    """,
        {"a": "dependencies: [b]", "b": "dependencies: [c]", "c": "name: c"},
    )
    app = boot(tmp_path)
    assert list(app.plugins) == ["c", "b", "a"]
    assert app.config["a"] and app.config["c"]


def test_missing_dependency_names_both(tmp_path):
    plugin_app(tmp_path, 'plugin = {"a": {"path": "plugins/a"}}', {"a": "dependencies: [zzz]"})
    assert "plugin 'a' depends on 'zzz', which is not configured" in boot_error(tmp_path)


def test_cycle_names_the_plugins(tmp_path):
    plugin_app(
        tmp_path,
        'plugin = {"a": {"path": "plugins/a"}, "b": {"path": "plugins/b"}}',
        {"a": "dependencies: [b]", "b": "dependencies: [a]"},
    )
    assert "plugin dependency cycle: a -> b -> a" in boot_error(tmp_path)


def test_disabled_in_app_stays_disabled(tmp_path):
    plugin_app(
        tmp_path,
        """
        plugin = {"a": {"path": "plugins/a"}, "b": {"path": "plugins/b", "enable": False}}
    """,
        {"a": "dependencies: [b]", "b": "name: b"},
    )
    message = boot_error(tmp_path)
    assert "plugin 'a' depends on 'b', which is disabled by the app" in message


def test_app_overrides_framework_plugin_settings(tmp_path):
    write_tree(
        tmp_path,
        {
            "pyproject.toml": '[tool.eggscripts]\nframework = "sofa"\n',
            "config/plugin.py": 'plugin = {"cushion": False}',
        },
    )
    app = boot(tmp_path)
    assert app.plugins == {}
    assert "cushion" not in app.config.get("layers", {})


def test_plugin_env_restriction_and_env_plugin_file(tmp_path):
    plugin_app(
        tmp_path,
        """
        plugin = {"a": {"path": "plugins/a", "env": ["prod"]}, "b": {"path": "plugins/b"}}
    """,
        {"a": "name: a", "b": "env: [unittest]"},
        {"config/plugin.prod.py": 'plugin = {"b": False}'},
    )
    assert list(boot(tmp_path).plugins) == ["b"]
    assert list(boot(tmp_path, env="prod").plugins) == ["a"]


def test_framework_disabled_dependency_is_enabled_implicitly(tmp_path):
    write_tree(
        tmp_path,
        {
            "pyproject.toml": '[tool.eggscripts]\nframework = "sofa"\n',
            "config/plugin.py": 'plugin = {"a": {"path": "a"}, "cushion": {"enable": True}}',
            "a/plugin.yaml": "dependencies: [cushion]",
        },
    )
    assert list(boot(tmp_path).plugins) == ["cushion", "a"]


@pytest.mark.parametrize(
    ("plugin_py", "pattern"),
    [
        (
            'plugin = {"a": {"package": "no_such_pkg_xyz"}}',
            r"plugin 'a' \(in .*config/plugin.py\): package 'no_such_pkg_xyz' cannot be imported",
        ),
        ('plugin = {"a": {"path": "nowhere"}}', r"plugin 'a' .*nowhere is not a directory"),
        ('plugin = {"a": {"enable": True}}', r"plugin 'a' .* has no `package` or `path`"),
        ('plugin = {"a": {"pth": "x"}}', r"config/plugin.py: plugin 'a' must be a bool or a dict"),
        ("plugin = [1]", r"config/plugin.py: `plugin` must be a dict"),
        ('plugin = {\n  "a": {"path": "x"},,\n}', r"config/plugin.py:2: SyntaxError"),
    ],
)
def test_plugin_config_errors(tmp_path, plugin_py, pattern):
    write_tree(tmp_path, {"config/plugin.py": plugin_py})
    message = boot_error(tmp_path)
    assert re.search(pattern, message), message


def test_plugin_yaml_name_mismatch_is_a_warning(tmp_path, caplog):
    """egg warns (pluginName differs from pluginConfigName) and uses the config key."""
    plugin_app(tmp_path, 'plugin = {"a": {"path": "plugins/a"}}', {"a": "name: other"})
    with caplog.at_level("WARNING", logger="eggscripts.app"):
        app = boot(tmp_path)
    assert list(app.plugins) == ["a"]
    assert any(
        re.search(r"plugin.yaml names the plugin 'other' but .* configures it as 'a'", m)
        for m in caplog.messages
    ), caplog.messages


def test_bad_plugin_yaml(tmp_path):
    plugin_app(tmp_path, 'plugin = {"a": {"path": "plugins/a"}}', {"a": "dependencies: [\n"})
    assert re.search(r"plugins/a/plugin.yaml:\d+: YAMLError", boot_error(tmp_path))


def test_framework_chain_and_classes():
    app = boot(FULL)
    agent = boot(FULL, role="agent")
    assert [u.name for u in app.frameworks] == ["sofa", "chair"]
    assert app.framework_name == "sofa" and agent.framework_name == "sofa"
    assert type(app).__mro__[1].__module__ == "sofa"


def test_framework_from_boot_info_wins(tmp_path):
    write_tree(tmp_path, {"pyproject.toml": '[tool.eggscripts]\nframework = "nope_fw"\n'})
    assert "framework 'nope_fw'" in boot_error(tmp_path)
    app = boot(tmp_path, framework="sofa")
    assert [u.name for u in app.frameworks] == ["sofa"]
    assert list(app.plugins) == ["cushion"]


def test_framework_errors(tmp_path):
    assert "framework 'missing_fw_xyz' (from --framework) is not installed" in boot_error(
        tmp_path, framework="missing_fw_xyz"
    )
    write_tree(
        tmp_path,
        {
            "fw/loopa/__init__.py": "framework = 'loopb'",
            "fw/loopb/__init__.py": "framework = 'loopa'",
            "fw/badcls/__init__.py": "Application = 3",
            "fw/broken/__init__.py": "x = 1\nraise ValueError('fw boom')\n",
        },
    )
    import sys

    sys.path.insert(0, str(tmp_path / "fw"))
    try:
        assert "framework chain loops: loopa -> loopb -> loopa" in boot_error(
            tmp_path, framework="loopa"
        )
        assert "Application must subclass runtime.Application" in boot_error(
            tmp_path, framework="badcls"
        )
        assert re.search(
            r"framework 'broken' failed to import: .*fw/broken/__init__.py:2: ValueError: fw boom",
            boot_error(tmp_path, framework="broken"),
        )
    finally:
        sys.path.remove(str(tmp_path / "fw"))


def test_framework_directory(tmp_path):
    """`--framework=./dir`: a package directory (its Application class and config are used)
    or a plain directory of conventions; a missing one is a one-line error."""
    write_tree(
        tmp_path,
        {
            "myfw/__init__.py": (
                "from runtime import Application as Base\n\n"
                "class Application(Base):\n    flavour = 'dir-framework'\n"
            ),
            "myfw/config/config.default.py": "config = {'from_fw': 1, 'shared': 'fw'}",
            "plainfw/config/config.default.py": "config = {'from_plain': 2}",
            "config/config.default.py": "config = {'shared': 'app'}",
        },
    )
    app = boot(tmp_path, framework=str(tmp_path / "myfw"))
    assert app.flavour == "dir-framework"
    assert (app.config["from_fw"], app.config["shared"]) == (1, "app")
    assert boot(tmp_path, framework="./plainfw").config["from_plain"] == 2
    assert "framework directory" in boot_error(tmp_path, framework="./nowhere")
