"""A SIGKILLed master leaves its private endpoint directory behind (it cannot clean up);
the next start of the same user removes those it can prove dead, and only those."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from tests.cli_helpers import make_app
from tests.clusters import Cluster
from tests.helpers import cluster_processes, wait_until


@pytest.fixture
def short_tmpdir(monkeypatch):
    """A TMPDIR of our own (short: Unix socket paths are limited to 108 bytes)."""
    path = tempfile.mkdtemp(prefix="egt", dir="/tmp")
    monkeypatch.setenv("TMPDIR", path)
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def _endpoints(tmpdir: Path) -> set[str]:
    """Leader endpoint directories; not `eggscripts-<uid>`, where a master started without
    the CLI keeps its title lock (runtime/contract/paths.py)."""
    mine = f"eggscripts-{os.geteuid()}"
    return {p.name for p in tmpdir.iterdir() if p.name.startswith("eggscripts-") and p.name != mine}


def test_stale_endpoint_dirs_of_killed_masters_are_removed(tmp_path, short_tmpdir, port):
    from tests.conftest import new_title
    from tests.helpers import free_port

    app = make_app(tmp_path / "app", name="shop")
    killed_title, alive_title, next_title = new_title("killed"), new_title("alive"), new_title("n")
    with Cluster(app, killed_title, port, workers=1) as killed:
        (killed_dir,) = _endpoints(short_tmpdir)
        os.kill(killed.pid, signal.SIGKILL)
        killed.proc.wait()
        wait_until(lambda: not any(cluster_processes(killed_title).values()), timeout=5)
    assert _endpoints(short_tmpdir) == {killed_dir}  # the leftover of issue 9
    with Cluster(app, alive_title, free_port(), workers=1):
        (alive_dir,) = _endpoints(short_tmpdir) - {killed_dir}
        with Cluster(app, next_title, free_port(), workers=1):
            dirs = _endpoints(short_tmpdir)
            assert killed_dir not in dirs  # proven dead: removed
            assert alive_dir in dirs  # its master runs: kept
            assert len(dirs) == 2
    assert _endpoints(short_tmpdir) == set()  # masters that exit remove their own
