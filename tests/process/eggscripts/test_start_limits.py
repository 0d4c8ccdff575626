"""`start` refuses what a machine cannot run: too many workers, `--user`/`--group` without
root; and `--user`/`--group` switch the children (not the master) after binding."""

from __future__ import annotations

import subprocess

import psutil
import pytest

from tests.cli_helpers import EGGSCRIPTS, cli_env, make_app, run_cli
from tests.clusters import Cluster
from tests.helpers import cluster_processes, logs_under_base_dir, request


def test_workers_above_the_machine_bound_exit_2_in_one_line(tmp_path, title, port) -> None:
    app = make_app(tmp_path / "app")
    result = run_cli("start", f"--title={title}", f"--port={port}", "--workers=100000",
                     str(app), env=cli_env(tmp_path))  # fmt: skip
    assert result.returncode == 2
    error = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert len(error) == 1, result.stderr
    assert "100000 is more workers than this machine can run well (at most " in error[0]
    assert " per CPU x " in error[0]
    assert not any(cluster_processes(title).values())


def test_user_and_group_are_refused_without_root(tmp_path, title, port) -> None:
    """Run as a non-root uid: a fresh user namespace (the CLI sees uid 65534)."""
    app = make_app(tmp_path / "app")
    result = subprocess.run(
        ["unshare", "--user", EGGSCRIPTS, "start", f"--title={title}", f"--port={port}",
         "--user=nobody", str(app)],
        env=cli_env(tmp_path), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2, result
    assert result.stderr.splitlines()[-1] == (
        "Error: --user/--group need root (this start runs as uid 65534); start as root, or "
        "leave them out to run as yourself"
    )


def test_unknown_user_exit_2(tmp_path, title, port) -> None:
    result = run_cli("start", f"--title={title}", f"--port={port}", "--user=no-such-user-x",
                     str(make_app(tmp_path / "app")), env=cli_env(tmp_path))  # fmt: skip
    assert result.returncode == 2
    assert "no such account: no-such-user-x" in result.stderr


def test_group_switches_agent_and_workers_not_the_master(tmp_path, title, port) -> None:
    """uid stays root here (this machine's interpreter lives under a 0700 /root, out of
    reach of other users), the group is dropped: the same calls switch the uid."""
    app = make_app(tmp_path / "app", name="shop")
    logs_under_base_dir(app, "shop")
    with Cluster(app, title, port, workers=2, group="nogroup") as cluster:
        assert request(port, "/").status == 404
        found = cluster_processes(title)
        children = found["agent"] + found["app"]
        assert len(children) == 3
        for proc in children:
            assert set(proc.gids()) == {65534}  # real, effective, saved
            with open(f"/proc/{proc.pid}/status") as fh:
                groups = next(ln.split()[1:] for ln in fh if ln.startswith("Groups:"))
            assert groups == ["65534"]  # root's supplementary groups are gone too
        assert psutil.Process(cluster.pid).gids().real == 0
    log = app / "logs" / "shop" / "common-error.log"
    assert (log.stat().st_uid, log.stat().st_gid) == (0, 65534)  # handed to the children


def test_open_files_soft_limit_is_raised_to_the_hard_limit(tmp_path, title, port) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip(f"needs a finite hard RLIMIT_NOFILE above 256 (got {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # inherited by the cluster
    try:
        with Cluster(make_app(tmp_path / "app"), title, port, workers=1):
            found = cluster_processes(title)
            limits = {
                p.pid: psutil.Process(p.pid).rlimit(psutil.RLIMIT_NOFILE)
                for p in found["master"] + found["agent"] + found["app"]
            }
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(limits) == 3
    assert set(limits.values()) == {(hard, hard)}
