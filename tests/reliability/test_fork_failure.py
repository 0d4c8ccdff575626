"""A failed fork (issue 9, defect 3): EAGAIN when a replacement is forked under a process
limit is logged and retried with backoff; the master and the surviving worker stay up.

Once the cluster is ready, the master's forks are made to fail (tests/reliability/faults.py
`ForkLimit`: a cluster run as a user the test creates reaches its `ulimit -u`, or a pids
cgroup as in a container), a worker dies, and forks are allowed again 1.5 s later.
Before: the master died of an uncaught BlockingIOError, taking the cluster down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusters import Cluster
from tests.helpers import FIXTURES, request, wait_until
from tests.reliability.faults import ForkLimit, give_to, python_for, system_user
from tests.reliability.load import Load

CHAOS = FIXTURES / "runtime" / "chaos"


@contextlib.contextmanager
def _cluster(kind: str, tmp_path: Path, title: str, port: int) -> Iterator[Cluster]:
    if kind == "pids_cgroup":
        with Cluster(CHAOS, title, port, workers=2) as cluster:
            yield cluster
        return
    with system_user() as (uid, gid, home):
        python = python_for(uid, gid)
        if python is None:
            pytest.skip(f"a created user cannot run {sys.executable} (its directory is private)")
        cluster = Cluster(give_to(CHAOS, uid, gid, home), title, port, workers=2)
        cluster.popen_kwargs = {"user": uid, "group": gid, "extra_groups": [],
                                "preexec_fn": ForkLimit.preexec}  # fmt: skip
        cluster.python, extra_env = python
        cluster.env = {"HOME": str(home), **extra_env}
        with cluster:
            yield cluster


# The container's pids limit is the same defect by another road: long variant only.
KINDS = ["rlimit_nproc", pytest.param("pids_cgroup", marks=pytest.mark.long)]


@pytest.mark.parametrize("kind", KINDS)
def test_failed_fork_is_retried_with_backoff_and_survivors_serve(tmp_path, title, port, kind):
    limit: ForkLimit | None = None
    try:
        with _cluster(kind, tmp_path, title, port) as cluster, Load(port, "/pid", 2) as load:
            limit = ForkLimit(kind, cluster.pid, port)
            failures, during, arrived = _kill_while_forks_fail(cluster, limit, load)
            out, _ = cluster.output()
            master_alive = cluster.proc is not None and cluster.proc.poll() is None
            assert master_alive
    finally:
        if limit is not None:
            limit.close()
    result = load.result
    print(f"figures: {kind}: {failures} failed forks logged in 1.5s, replacement "
          f"{arrived:.1f}s after forks were allowed; load {result.ok} ok ({during} while "
          f"forks failed), {result.failed} failed {result.errors}")  # fmt: skip
    assert failures >= 3, out  # retried, with backoff: not one attempt per loop pass
    assert failures <= 8, out
    assert "Resource temporarily unavailable" in out
    assert "trying again in " in out
    assert during > 20  # the survivor kept serving
    assert result.failed <= 2  # at most the victim's in-flight requests (2 clients)
    assert arrived < 12


def _kill_while_forks_fail(
    cluster: Cluster, limit: ForkLimit, load: Load
) -> tuple[int, int, float]:
    """(forks that failed, requests served meanwhile, seconds to the replacement).

    With the pids cgroup a worker is SIGKILLed. Under `ulimit -u` the slots a dead worker
    frees would let its replacement fork, so a worker faults instead (an uncaught error):
    it leaves the pool and is replaced while it still exists."""
    limit.block()
    if limit.kind == "pids_cgroup":
        victim = cluster.processes()["app"][0].pid
        os.kill(victim, signal.SIGKILL)
    else:
        victim = int(request(cluster.port, "/fault").text)
    survivor = next(p for p in cluster.processes()["app"] if p.pid != victim)
    time.sleep(1.5)
    during = load.result.ok
    failures = cluster.output()[0].count("could not fork an app worker")
    limit.allow()
    allowed = time.monotonic()

    def replaced() -> bool:
        pids = {p.pid for p in cluster.processes()["app"]}
        return len(pids) == 2 and victim not in pids

    wait_until(replaced, timeout=15)
    assert survivor.is_running()
    return failures, during, time.monotonic() - allowed
