"""`eggscripts dev`: a save is served by the new code within a second, a broken edit never:
the cases with no process started (the others are in
tests/process/eggscripts/test_dev.py)."""

from __future__ import annotations

from pathlib import Path

from eggscripts.dev import dev_watch
from tests.helpers import wait_until

HANDLER = "async def index(ctx):\n    ctx.body = {body!r}\n"


def write_app(root: Path, body: str = "v0") -> Path:
    (root / "app" / "controller").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "app" / "router.py").write_text(
        'def router(app):\n    app.router.get("/", app.controller.home.index)\n'
    )
    (root / "app" / "controller" / "home.py").write_text(HANDLER.format(body=body))
    (root / "config" / "config.default.py").write_text('config = {"keys": "dev"}\n')
    (root / "agent.py").write_text("# the agent's code\n")
    return root


def test_watched_paths_egg_layout_and_module_package(tmp_path: Path) -> None:
    app = write_app(tmp_path / "egg")
    (app / "agent.py").write_text("")
    (app / ".env").write_text("A=1\n")
    (app / "logs").mkdir()
    assert dev_watch.watched_paths(str(app), None, None) == sorted(
        str(app / name) for name in (".env", "agent.py", "app", "config")
    )
    asgi = tmp_path / "asgi"
    (asgi / "shop").mkdir(parents=True)
    (asgi / "shop" / "__init__.py").write_text("")
    (asgi / "polls").mkdir()
    (asgi / "polls" / "__init__.py").write_text("")
    (asgi / ".venv" / "lib").mkdir(parents=True)
    assert dev_watch.watched_paths(str(asgi), "shop.main:app", None) == [
        str(asgi / "polls"),
        str(asgi / "shop"),
    ]


def test_filter_ignores_logs_run_virtualenvs_and_caches(tmp_path: Path) -> None:
    (tmp_path / "env3").mkdir()
    (tmp_path / "env3" / "pyvenv.cfg").write_text("")
    keep = dev_watch.DevFilter(str(tmp_path))
    added = dev_watch.watchfiles.Change.added
    for ignored in ("logs/x.log", "run/agent.json", "env3/lib/x.py", "app/__pycache__/a.pyc"):
        assert not keep(added, str(tmp_path / ignored)), ignored
    assert keep(added, str(tmp_path / "app" / "router.py"))


def test_a_file_replaced_by_rename_is_still_watched(tmp_path: Path) -> None:
    """Editors that save by renaming a temporary file over the original (vim, many IDEs)
    leave a single-file watch on the old inode: the watch must follow the new file."""
    agent = tmp_path / "agent.py"
    agent.write_text("a")
    watcher = dev_watch.Watcher([str(agent)], str(tmp_path))
    watcher.start()
    try:
        for text in ("b", "c"):
            (tmp_path / "agent.py.tmp").write_text(text)
            (tmp_path / "agent.py.tmp").replace(agent)
            assert wait_until(watcher.wait, timeout=5) == [str(agent)]
    finally:
        watcher.close()


def test_agent_loads_all_but_app_files(tmp_path: Path) -> None:
    app = write_app(tmp_path / "egg")
    base = str(app)

    def loads(*names: str, target: str | None = None, root: str = base) -> bool:
        return dev_watch.agent_loads([f"{root}/{n}" for n in names], root, target)

    assert not loads("app/router.py", "app/controller/home.py", "app.py")
    for name in ("agent.py", "app/extend/agent.py", "config/config.default.py", "lib/x.py",
                 ".env", "pyproject.toml"):  # fmt: skip
        assert loads("app/router.py", name), name
    asgi = tmp_path / "asgi"
    (asgi / "shop").mkdir(parents=True)
    root = str(asgi)
    assert not loads("shop/main.py", "shop/version.py", target="shop.main:app", root=root)
    assert loads("polls/views.py", target="shop.main:app", root=root)
    assert loads("main.py", target="main:app", root=root)
    (asgi / "shop" / "agent.py").write_text("")  # it may import anything in its package
    assert loads("shop/version.py", target="shop.main:app", root=root)
