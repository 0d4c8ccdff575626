"""egg fidelity, round two (issue 20): loader, router and helper cases translated by hand
from egg-core's own tests (test/egg.test.ts, test/loader/*). Each test names the issue
item it pins down and the egg case it translates."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from runtime.http.router import Router
from runtime.loader import BootInfo, create_app
from tests.cli_helpers import cli_env, foreground_cluster, make_app, run_cli
from tests.fixtures.apptree import boot, boot_error, write_tree
from tests.fixtures.serve_thread import ThreadServer
from tests.helpers import Cluster, free_port, request

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


LIFECYCLE_FILE_BOOT = """
import os


class Boot:
    def __init__(self, app):
        self.app = app

    def _log(self, line):
        with open(os.path.join(self.app.base_dir, "lifecycle.txt"), "a") as fh:
            fh.write(f"{os.getpid()} {line}\\n")

    def {hook}(self):
        raise RuntimeError("{hook} error")

    def did_ready(self, err=None):
        self._log(f"did_ready {err}")

    def before_close(self):
        self._log("before_close")
"""


@pytest.mark.parametrize("hook", ["did_load", "will_ready"])
def test_1_failed_boot_in_a_real_worker_calls_did_ready_err_then_before_close(
    tmp_path: Path, title: str, port: int, hook: str
) -> None:
    app = make_app(tmp_path / "lifecycle-app")
    write_tree(app, {"app.py": LIFECYCLE_FILE_BOOT.replace("{hook}", hook)})
    code, _, err = Cluster(app, title, port, workers=1).start(wait=False).wait(timeout=30)
    assert code != 0 and f"Boot.{hook}" in err, err
    lines = [line.split(" ", 1) for line in (app / "lifecycle.txt").read_text().splitlines()]
    assert [text for _, text in lines] == [f"did_ready {hook} error", "before_close"]
    assert len({pid for pid, _ in lines}) == 1  # both in the worker that failed


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


# ---- 6: what counts as an app ---------------------------------------------------------------

INJECT = """
import os

with open(os.path.join(os.path.dirname(__file__), "injected.txt"), "a") as fh:
    fh.write("@@@ inject script{n} %d\\n" % os.getpid())
"""


def test_6_config_only_directory_starts_serves_404_and_runs_its_requires(
    tmp_path: Path, title: str, port: int
) -> None:
    """egg-scripts start.test.js 'read pkgInfo: should --require' (fixtures/pkg-config: a
    package.json with `require` and no router or controller): it starts and every process
    runs the required scripts."""
    app = write_tree(
        tmp_path / "pkg-config",
        {
            "pyproject.toml": '[project]\nname = "example"\n\n[tool.eggscripts]\n'
            'require = ["./inject.py", "./inject2.py"]\n',
            "config/config.default.py": "config = {}",
            "inject.py": INJECT.replace("{n}", ""),
            "inject2.py": INJECT.replace("{n}", "2"),
        },
    )
    with foreground_cluster(app, title, port, cli_env(tmp_path), workers=1):
        assert request(port, "/").status == 404
        lines = (app / "injected.txt").read_text().splitlines()
    by_script: dict[str, set[str]] = {}
    for line in lines:
        script, pid = line.rsplit(" ", 1)
        by_script.setdefault(script, set()).add(pid)
    assert set(by_script) == {"@@@ inject script", "@@@ inject script2"}
    assert len(by_script["@@@ inject script"]) == 2  # the agent and the app worker


def test_6_a_require_naming_a_missing_module_fails_naming_it(
    tmp_path: Path, title: str, port: int
) -> None:
    app = write_tree(
        tmp_path / "missing-require",
        {
            "pyproject.toml": '[tool.eggscripts]\nrequire = ["no_such_module_q"]\n',
            "config/config.default.py": "config = {}",
        },
    )
    result = run_cli("start", f"--title={title}", f"--port={port}", str(app), env=cli_env(tmp_path))
    assert result.returncode == 4, result.stdout + result.stderr
    assert "no module named 'no_such_module_q'" in result.stderr
    assert "not an app" not in result.stderr


def test_6_a_directory_without_config_or_code_is_still_no_app(tmp_path: Path, title: str) -> None:
    project = write_tree(tmp_path / "project", {"pyproject.toml": '[project]\nname = "x"\n'})
    result = run_cli("start", f"--title={title}", str(project), env=cli_env(tmp_path))
    assert result.returncode == 4
    assert (
        "is not an app: it has none of app/router.py, app/controller/, app.py, agent.py, "
        "config/" in result.stderr
    )


# ---- 9: one "Differences from egg" section ------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


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
