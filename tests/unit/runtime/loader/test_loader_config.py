"""Env resolution, config layering/merging, provenance, run/*.json dumps, config errors."""

from __future__ import annotations

import json
import re

import pytest

from runtime.loader.config import mask
from runtime.loader.units import resolve_env
from tests.fixtures.apptree import FULL, boot, boot_error, write_tree


@pytest.fixture(scope="module")
def full():
    return boot(FULL)


def test_env_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("EGG_SERVER_ENV", raising=False)
    assert resolve_env(str(tmp_path)) == "local"
    write_tree(tmp_path, {"config/env": "staging\n"})
    assert resolve_env(str(tmp_path)) == "staging"
    monkeypatch.setenv("EGG_SERVER_ENV", "prod")
    assert resolve_env(str(tmp_path)) == "prod"
    assert resolve_env(str(tmp_path), "unittest") == "unittest"
    app = boot(tmp_path, env=None)
    assert app.env == "prod" and app.config["env"] == "prod"


def test_layer_order_and_deep_merge(full):
    layers = full.config["layers"]
    # every unit contributes; the app's env file has the last word
    for unit in ("local", "needs", "cushion", "sofa", "chair", "app"):
        assert layers[unit] == "default"
    assert layers["who"] == "app-env"
    assert layers["cushion_env"] and layers["sofa_env"] and layers["app_env"]
    assert layers["list"] == ["app"]  # lists are replaced, never merged


def test_env_layers_come_after_every_default(tmp_path):
    """plugin default < framework default < app default < plugin env < ... (egg's order)."""
    write_tree(
        tmp_path,
        {
            "config/config.default.py": "config = {'who': 'app-default'}",
            "config/plugin.py": "plugin = {'p': {'path': 'p'}}",
            "p/config/config.unittest.py": "config = {'who': 'plugin-env'}",
        },
    )
    assert boot(tmp_path).config["who"] == "plugin-env"


def test_app_info(full):
    info = full.config["info"]
    assert info["name"] == "full-app" and info["pkg_name"] == "full-app"
    assert info["env"] == "unittest" and info["base_dir"] == str(FULL)
    assert info["root"] == str(FULL)  # local/unittest: root is the app dir, else HOME


def test_config_meta_records_the_file(full):
    meta = full.config_meta
    assert meta["layers.who"].endswith("full/config/config.unittest.yaml")
    assert meta["layers.sofa"].endswith("sofa/config/config.default.py")
    assert meta["layers.cushion_env"].endswith("cushion/config/config.unittest.yaml")
    assert meta["conn.db.host"].endswith("full/config/config.default.py")
    assert meta["bodyparser.limit"] == "<eggscripts>"


def test_boot_hooks_may_edit_config(full):
    assert full.config["added_by_boot"] is True


def test_run_files_are_written_with_secrets_masked(full):
    boot(FULL, role="agent")
    dumped = json.loads((FULL / "run" / "application_config.json").read_text())
    secrets = dumped["conn"]
    assert secrets["api_token"] == "******"
    assert secrets["db"] == {"password": "******", "host": "db.local"}
    assert secrets["session"] == {"max_age": "******", "name": "******"}
    assert secrets["cookieKeys"] == ["******", "******"]
    assert secrets["plain"] == "visible"
    assert dumped["layers"]["who"] == "app-env"
    agent = json.loads((FULL / "run" / "agent_config.json").read_text())
    assert agent["conn"]["api_token"] == "******"
    meta = json.loads((FULL / "run" / "application_config_meta.json").read_text())
    assert meta["layers.who"].endswith("config.unittest.yaml")


def test_mask_handles_any_value():
    value = {
        "Token": 3,
        "ok": re.compile("a+"),
        "fn": len,
        "PassPhrase": None,
        "list": [{"key": 1}],
    }
    assert mask(value) == {
        "Token": "******",
        "ok": "/a+/",
        "fn": "<builtin_function_or_method len>",
        "PassPhrase": None,
        "list": [{"key": "******"}],
    }


def test_yaml_config(tmp_path):
    write_tree(tmp_path, {"config/config.default.yaml": "a:\n  b: [1, 2]\n"})
    assert boot(tmp_path).config["a"] == {"b": [1, 2]}


@pytest.mark.parametrize(
    ("files", "pattern"),
    [
        (
            {"config/config.default.py": "config = {\n  'a': ,\n}\n"},
            r"config/config.default.py:2: SyntaxError: ",
        ),
        (
            {"config/config.default.py": "x = 1\n\nraise KeyError('boom')\n"},
            r"config/config.default.py:3: KeyError: 'boom'",
        ),
        (
            {"config/config.default.py": "def config(info):\n    return 1 / 0\n"},
            r"config/config.default.py:2: ZeroDivisionError: division by zero",
        ),
        (
            {"config/config.default.yaml": "a: 1\nb: [\n"},
            r"config/config.default.yaml:3: YAMLError: ",
        ),
        ({"config/config.default.py": "x = 1\n"}, r"config.default.py: defines no `config`"),
        ({"config/config.default.py": "config = [1]\n"}, r"config must be a dict, got list"),
        (
            {"config/config.default.py": "config = {}", "config/config.default.yaml": "a: 1"},
            r"config.default.py: conflicts with .*config.default.yaml",
        ),
        (
            {"config/config.default.py": "config = {'core_middleware': ['x']}"},
            r"only frameworks and plugins may set `core_middleware`",
        ),
        (
            {
                "config/plugin.py": "plugin = {'p': {'path': 'p'}}",
                "p/config/config.default.py": "config = {'middleware': ['x']}",
            },
            r"p/config/config.default.py: only the app may set `middleware`",
        ),
        (
            {"config/config.default.py": "config = {'bodyparser': {'limit': 'lots'}}"},
            r"config.default.py: bodyparser.limit must be bytes",
        ),
    ],
)
def test_config_errors_name_file_and_line(tmp_path, files, pattern):
    write_tree(tmp_path, files)
    message = boot_error(tmp_path)
    assert re.search(pattern, message), message
    assert str(tmp_path) in message
