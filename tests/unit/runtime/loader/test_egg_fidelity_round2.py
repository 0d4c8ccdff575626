"""egg fidelity, round two (issue 20): loader cases translated by hand from egg-core's own
tests (test/egg.test.ts, test/loader/*), booted in-process. Each test names the issue item
it pins down and the egg case it translates; the served and real-process cases are in
tests/unit/runtime/http/test_egg_fidelity_round2_serving.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runtime.loader import BootInfo, create_app
from tests.fixtures.apptree import boot, boot_error, write_tree

# ---- 1: a failed boot still completes the lifecycle -----------------------------------------

BOOT_LOG = """
class Boot:
    def __init__(self, app):
        self.app = app
        app.boot_log = []

    def config_did_load(self):
        self.app.boot_log.append("config_did_load")

    async def did_load(self):
        {did_load}
        self.app.boot_log.append("did_load")

    async def will_ready(self):
        {will_ready}
        self.app.boot_log.append("will_ready")

    async def did_ready(self, err=None):
        self.app.boot_log.append(f"did_ready {{type(err).__name__}}: {{err}}")

    async def before_close(self):
        self.app.boot_log.append("before_close")
"""


def failed_boot(tmp_path: Path, **raises: str) -> tuple[object, str]:
    hooks = {h: raises.get(h, "pass") for h in ("did_load", "will_ready")}
    write_tree(tmp_path, {"app.py": BOOT_LOG.format(**hooks)})
    app = create_app(BootInfo(base_dir=str(tmp_path), env="unittest"))
    with pytest.raises(Exception) as caught:
        asyncio.run(app.boot())
    return app, str(caught.value)


@pytest.mark.parametrize(
    ("hook", "before"),
    [
        ("did_load", ["config_did_load"]),  # egg.test.ts 'boot: didLoad failed'
        ("will_ready", ["config_did_load", "did_load"]),  # 'boot: willReady failed'
    ],
)
def test_1_failed_hook_calls_did_ready_with_the_error_then_before_close(tmp_path, hook, before):
    """egg.test.ts 'boot: didLoad failed / willReady failed: should throw error'."""
    error = "didLoad error" if hook == "did_load" else "willReady error"
    app, message = failed_boot(tmp_path, **{hook: f"raise RuntimeError({error!r})"})
    assert error in message
    assert app.boot_log == [  # type: ignore[attr-defined]
        *before,
        f"did_ready RuntimeError: {error}",
        "before_close",
    ]


def test_1_config_did_load_failed_skips_did_ready(tmp_path):
    """egg.test.ts 'boot: configDidLoad failed': the boot log stays empty."""
    write_tree(
        tmp_path,
        {
            "app.py": BOOT_LOG.format(did_load="pass", will_ready="pass").replace(
                'self.app.boot_log.append("config_did_load")', "raise ValueError('cdl')"
            )
        },
    )
    app = create_app(BootInfo(base_dir=str(tmp_path), env="unittest"))
    with pytest.raises(Exception, match="cdl"):
        asyncio.run(app.boot())
    assert app.boot_log == ["before_close"]  # type: ignore[attr-defined]


def test_1_successful_boot_passes_no_error_and_old_style_did_ready_still_runs(tmp_path):
    """egg.test.ts 'boot: should load boot' (didReady gets no error); a `did_ready(self)`
    without the parameter is called either way."""
    write_tree(
        tmp_path,
        {
            "app.py": BOOT_LOG.format(did_load="pass", will_ready="pass"),
            "config/plugin.py": 'plugin = {"p": {"path": "p"}}',
            "p/app.py": """
                class Boot:
                    def __init__(self, app):
                        self.app = app

                    def did_ready(self):
                        self.app.plain_did_ready = True
            """,
        },
    )
    app = boot(tmp_path)
    assert app.boot_log[-1] == "did_ready NoneType: None"
    assert app.plain_did_ready is True


# ---- 4: plugin warnings --------------------------------------------------------------------


def plugin_messages(caplog: pytest.LogCaptureFixture, level: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == level and "plugin" in r.msg]


def test_4_app_repointing_a_framework_plugin_warns_once_naming_both(tmp_path, caplog):
    """load_plugin.test.ts 'should warn when redefine plugin' (load-plugin-config-override):
    the framework's `zzz` is pointed by the app at its own copy."""
    fw_file = tmp_path / "egg/config/plugin.py"
    app_file = tmp_path / "app/config/plugin.py"
    write_tree(
        tmp_path,
        {
            "egg/config/plugin.py": 'plugin = {"zzz": {"path": "plugins/zzz"}}',
            "egg/plugins/zzz/plugin.yaml": "name: zzz\n",
            "app/config/plugin.py": 'plugin = {"zzz": {"enable": True, "path": "plugins/zzz"}}',
            "app/config/plugin.unittest.py": 'plugin = {"zzz": {"path": "plugins/zzz"}}',
            "app/plugins/zzz/plugin.yaml": "name: zzz\n",
        },
    )
    with caplog.at_level("INFO", logger="eggscripts.app"):
        app = boot(tmp_path / "app", framework=str(tmp_path / "egg"))
    assert app.plugins["zzz"].path == str(tmp_path / "app/plugins/zzz")
    (warning,) = plugin_messages(caplog, "WARNING")
    assert warning == (
        f"plugin 'zzz' is defined in {fw_file} ({tmp_path}/egg/plugins/zzz) and pointed to "
        f"{tmp_path}/app/plugins/zzz by {app_file}; using {tmp_path}/app/plugins/zzz"
    )


@pytest.mark.parametrize(
    "spec", ['{"package": "eggplug_pkg"}', '{"enable": True, "package": "eggplug_pkg"}', "True"]
)
def test_4_redefining_a_framework_plugin_with_the_same_settings_is_quiet(tmp_path, caplog, spec):
    """load_plugin.test.ts 'should warn when redefine plugin' (redefine-plugin: the app
    names the framework's `package` plugin again) and 'should not warn when not redefine
    plugin'."""
    write_tree(
        tmp_path,
        {
            "egg/config/plugin.py": 'plugin = {"package": {"package": "eggplug_pkg"}}',
            "site/eggplug_pkg/__init__.py": "",
            "site/eggplug_pkg/plugin.yaml": "name: package\n",
            "app/config/plugin.py": f'plugin = {{"package": {spec}}}',
        },
    )
    import sys

    sys.path.insert(0, str(tmp_path / "site"))
    try:
        with caplog.at_level("INFO", logger="eggscripts.app"):
            app = boot(tmp_path / "app", framework=str(tmp_path / "egg"))
    finally:
        sys.path.remove(str(tmp_path / "site"))
        sys.modules.pop("eggplug_pkg", None)
    assert list(app.plugins) == ["package"]
    assert plugin_messages(caplog, "WARNING") == []


def test_4_implicitly_enabled_plugins_name_who_requires_them(tmp_path, caplog):
    """load_plugin.test.ts 'should log when enable plugin implicitly' (plugin-framework):
    eagleeye, configclient and diamond are required by hsfclient."""
    files = {
        "egg/config/plugin.py": """
            plugin = {
                "hsfclient": {"path": "plugins/hsfclient", "enable": False},
                "eagleeye": {"path": "plugins/eagleeye", "enable": False},
                "configclient": {"path": "plugins/configclient", "enable": False},
                "diamond": {"path": "plugins/diamond", "enable": False},
            }
        """,
        "egg/plugins/hsfclient/plugin.yaml": "dependencies: [eagleeye, configclient, diamond]\n",
        "app/config/plugin.py": "plugin = {'hsfclient': True}",
    }
    for name in ("eagleeye", "configclient", "diamond"):
        files[f"egg/plugins/{name}/plugin.yaml"] = f"name: {name}\n"
    write_tree(tmp_path, files)
    with caplog.at_level("INFO", logger="eggscripts.app"):
        app = boot(tmp_path / "app", framework=str(tmp_path / "egg"))
    assert all(p.enable for p in app.plugins.values())
    assert plugin_messages(caplog, "INFO") == [
        f"plugin {name!r} enabled implicitly: required by [hsfclient]"
        for name in ("eagleeye", "configclient", "diamond")
    ]


# ---- 7: names egg-core's file loader refuses or skips -------------------------------------

SERVICE = "from runtime import Service\n\n\nclass S(Service):\n    pass\n"
HANDLER = "async def index(ctx):\n    pass\n"
MIDDLEWARE = (
    "def middleware(options, app):\n    async def mw(ctx, next):\n        await next()\n\n"
    "    return mw\n"
)


def test_7_should_load_files(tmp_path):
    """file_loader.test.ts 'should load files' (load_dirs/services), Python spelling:
    `foo_bar_hello`, `hyphen-dir` -> `hyphen_dir`, `underscore_dir` (an underscore inside a
    name is fine), `userProfile`; a directory named like a file and Python's own
    `__init__.py`/`__pycache__` and hidden names are skipped."""
    write_tree(
        tmp_path,
        {
            f"app/service/{rel}": SERVICE
            for rel in (
                "dir/abc.py",
                "dir/service.py",
                "foo.py",
                "foo_bar_hello.py",
                "foo_service.py",
                "hyphen-dir/a.py",
                "underscore_dir/a.py",
                "userProfile.py",
            )
        }
        | {
            "app/service/bar.py/aaa": "not python",
            "app/service/tmp": "not python",
            "app/service/__init__.py": "raise SystemExit('never loaded')",
            "app/service/__pycache__/foo.cpython-311.py": "raise SystemExit('never loaded')",
            "app/service/.hidden/x.py": "raise SystemExit('never loaded')",
        },
    )
    services = boot(tmp_path).services
    assert set(services) == {
        "dir",
        "foo",
        "foo_bar_hello",
        "foo_service",
        "hyphen_dir",
        "underscore_dir",
        "userProfile",
    }
    assert set(services["dir"]) == {"abc", "service"}
    assert set(services["hyphen_dir"]) == set(services["underscore_dir"]) == {"a"}


REFUSED = [
    ("dot.dir/a.py", "dot.dir"),  # 'should throw when directory contains dot'
    ("_underscore/a.py", "_underscore"),  # 'should throw when directory contains underscore'
    ("dir/_a.py", "_a"),  # ... underscore-file-in-dir
    ("_private.py", "_private"),  # 'should throw when file starts with underscore'
    ("2fa.py", "2fa"),
]


@pytest.mark.parametrize(
    ("kind", "rel", "bad"),
    [
        (kind, rel, bad)
        for kind in ("service", "controller", "middleware")
        for rel, bad in REFUSED
        if kind != "middleware" or "/" not in rel  # app/middleware/<name>.py is flat
    ],
)
def test_7_names_egg_refuses_fail_the_start_naming_the_path(tmp_path, kind, rel, bad):
    """file_loader.test.ts: `<name> is not match 'a-z0-9_-' in <path>`."""
    body = {"service": SERVICE, "controller": HANDLER, "middleware": MIDDLEWARE}[kind]
    write_tree(tmp_path, {f"app/{kind}/{rel}": body})
    message = boot_error(tmp_path)
    assert f"{bad!r} cannot be loaded: a file or directory name here must start" in message
    assert str(tmp_path / "app" / kind) in message


# ---- 8: framework paths --------------------------------------------------------------------


def framework_paths(app: object) -> list[str]:
    return [unit.path for unit in app.frameworks]  # type: ignore[attr-defined]


def test_8_should_get_from_framework_using_symbol(tmp_path):
    """get_framework_paths.test.ts 'should get from framework using symbol': the framework
    names its parent relative to itself (`require('framework2')` from its own directory)."""
    write_tree(
        tmp_path,
        {
            "framework-symbol/pyproject.toml": "[tool.eggscripts]\n"
            'framework = "./node_modules/framework2"\n',
            "framework-symbol/config/config.default.py": "config = {'framework1': 'framework1'}",
            "framework-symbol/node_modules/framework2/config/config.default.py": "config = "
            "{'framework2': 'framework2'}",
            "eggpath/pyproject.toml": '[tool.eggscripts]\nframework = "../framework-symbol"\n',
        },
    )
    app = boot(tmp_path / "eggpath")
    assert framework_paths(app) == [
        str(tmp_path / "framework-symbol/node_modules/framework2"),
        str(tmp_path / "framework-symbol"),
    ]
    assert app.config["framework1"] == "framework1"
    assert app.config["framework2"] == "framework2"


def test_8_a_framework_inside_the_app_does_not_read_the_app_pyproject(tmp_path):
    """`framework = "./fw"`: the app's pyproject.toml is the app's, not the framework's
    (it used to fail with `framework chain loops: ./fw -> ./fw`)."""
    write_tree(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "shop"\n\n[tool.eggscripts]\nframework = "./fw"\n',
            "fw/config/config.default.py": "config = {'from_fw': True}",
        },
    )
    app = boot(tmp_path)
    assert framework_paths(app) == [str(tmp_path / "fw")]
    assert app.config["from_fw"] is True


def test_8_a_chain_inside_the_app_is_relative_to_each_framework(tmp_path):
    write_tree(
        tmp_path,
        {
            "pyproject.toml": '[tool.eggscripts]\nframework = "./fw/derived"\n',
            "fw/derived/pyproject.toml": '[tool.eggscripts]\nframework = "../base"\n',
            "fw/base/config/config.default.py": "config = {'layer': 'base'}",
        },
    )
    assert framework_paths(boot(tmp_path)) == [
        str(tmp_path / "fw/base"),
        str(tmp_path / "fw/derived"),
    ]


def test_8_a_path_relative_to_the_app_root_fails_saying_which_base_applies(tmp_path):
    write_tree(
        tmp_path,
        {
            "pyproject.toml": '[tool.eggscripts]\nframework = "./fw/derived"\n',
            "fw/derived/pyproject.toml": '[tool.eggscripts]\nframework = "./fw/base"\n',
            "fw/base/config/config.default.py": "config = {}",
        },
    )
    message = boot_error(tmp_path)
    assert (
        f"framework directory {tmp_path}/fw/derived/fw/base (from "
        f"{tmp_path}/fw/derived/pyproject.toml) does not exist; a relative framework path is "
        "relative to the directory of the file that names it"
    ) in message


def test_8_a_loop_through_different_spellings_is_found(tmp_path):
    write_tree(
        tmp_path,
        {
            "app/pyproject.toml": '[tool.eggscripts]\nframework = "../fw/a"\n',
            "fw/a/pyproject.toml": '[tool.eggscripts]\nframework = "../b"\n',
            "fw/b/pyproject.toml": '[tool.eggscripts]\nframework = "../../fw/a"\n',
        },
    )
    message = boot_error(tmp_path / "app")
    assert f"framework chain loops: ../fw/a -> ../b -> ../../fw/a (at {tmp_path}/fw/a)" in message
