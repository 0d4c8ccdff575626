"""Rolling reload with real processes (SIGHUP; `eggscripts reload` drives the same roll):
every pid replaced, the agent first, no request failed under load, a broken release
refused by its canary while the old workers keep serving, a symlinked release switch."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from tests.clusters import Cluster
from tests.helpers import FIXTURES, request, wait_until
from tests.load import Load

SHOWCASE = FIXTURES.parent.parent / "examples" / "showcase"


def pids(cluster: Cluster) -> tuple[set[int], set[int]]:
    procs = cluster.processes()
    return {p.pid for p in procs["agent"]}, {p.pid for p in procs["app"]}


def release(tmp_path: Path, name: str, body: str) -> Path:
    """A tiny app whose GET / answers `body`."""
    root = tmp_path / name
    (root / "app" / "controller").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "rel"\n')
    (root / "app" / "router.py").write_text(
        "def router(app):\n    app.router.get('/', app.controller.home.index)\n"
    )
    (root / "app" / "controller" / "home.py").write_text(
        f"async def index(ctx):\n    ctx.body = {body!r}\n"
    )
    return root


def test_sighup_rolls_every_process_with_no_failed_request(title: str, port: int) -> None:
    with Cluster(SHOWCASE, title, port, workers=2) as cluster:
        old_agent, old_apps = pids(cluster)
        with Load(port) as load:
            wait_until(lambda: load.ok > 20, timeout=10)
            cluster.signal(signal.SIGHUP)

            def rolled() -> bool:
                agent, apps = pids(cluster)
                return len(apps) == 2 and not apps & old_apps and not agent & old_agent

            wait_until(rolled, timeout=30, interval=0.1)
            during = load.ok
            wait_until(lambda: load.ok > during + 20, timeout=10)
        assert load.failed == 0, (load.counts, load.errors[:3])
        # A worker that exited is gone from the process list before the master has reaped
        # it and logged the end of the roll.
        wait_until(lambda: "reload: done" in cluster.output()[0], timeout=10)


def test_broken_release_is_refused_by_the_canary(tmp_path: Path, title: str, port: int) -> None:
    good = release(tmp_path, "r1", "one")
    link = tmp_path / "current"
    link.symlink_to(good)
    cluster = Cluster(link, title, port, workers=2)
    cluster.options["base_dir"] = str(link)  # keep the symlink: reload resolves it again
    with cluster:
        _, old_apps = pids(cluster)
        broken = release(tmp_path, "r2", "two")
        (broken / "app" / "router.py").write_text("def router(app):\n    raise KeyError('x')\n")
        tmp = tmp_path / "next"
        tmp.symlink_to(broken)
        os.replace(tmp, link)
        with Load(port) as load:
            cluster.signal(signal.SIGHUP)
            wait_until(lambda: "reload failed" in "".join(cluster.output()), 20)
        assert load.failed == 0, load.counts
        assert pids(cluster)[1] == old_apps
        assert request(port, "/").body == b"one"
        out, err = cluster.output()
        assert "router.py:2" in out + err


def test_release_switch_then_reload_serves_the_new_release(
    tmp_path: Path, title: str, port: int
) -> None:
    link = tmp_path / "current"
    link.symlink_to(release(tmp_path, "r1", "one"))
    cluster = Cluster(link, title, port, workers=2)
    cluster.options["base_dir"] = str(link)
    with cluster:
        assert request(port, "/").body == b"one"
        tmp = tmp_path / "next"
        tmp.symlink_to(release(tmp_path, "r2", "two"))
        os.replace(tmp, link)  # the switch alone changes nothing that runs
        assert request(port, "/").body == b"one"
        shutil.rmtree(tmp_path / "r1" / "app" / "controller")  # old release may vanish
        cluster.signal(signal.SIGHUP)
        wait_until(lambda: "reload: done" in cluster.output()[0], timeout=20)
        assert {request(port, "/").body for _ in range(10)} == {b"two"}
