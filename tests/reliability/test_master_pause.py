"""A paused master (issue 9, defect 1): SIGSTOP longer than `--worker-timeout`, then SIGCONT.

Before: at resume the master judged silence on its own jumped clock before reading the
heartbeats waiting in the sockets, and SIGKILLed every healthy worker ("stacks are on
stderr": there were none), losing the requests they had in flight.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.clusters import Cluster
from tests.helpers import FIXTURES, wait_until
from tests.reliability.load import Load

CHAOS = FIXTURES / "runtime" / "chaos"


def test_paused_master_kills_no_worker_on_resume(title, port) -> None:
    with Cluster(CHAOS, title, port, workers=2, worker_timeout=1000) as cluster:
        before = {p.pid for p in cluster.processes()["app"]} | {
            p.pid for p in cluster.processes()["agent"]
        }
        with Load(port, "/", clients=2) as load:
            time.sleep(0.3)
            cluster.signal(signal.SIGSTOP)
            time.sleep(2.2)  # nearly twice the timeout, nobody hearing the heartbeats
            cluster.signal(signal.SIGCONT)
            time.sleep(1.2)  # five stale checks after the resume
        after = {p.pid for p in cluster.processes()["app"]} | {
            p.pid for p in cluster.processes()["agent"]
        }
        out, _ = cluster.output()
    result = load.result
    print(f"figures: paused 2.2s at worker_timeout 1.0s: {result.ok} ok, {result.failed} "
          f"failed, {len(before - after)} of {len(before)} children killed")  # fmt: skip
    assert "sent no heartbeat" not in out, out
    assert after == before
    assert result.failed == 0, result.errors
    assert result.ok > 50


def test_a_stopped_worker_is_not_said_to_have_dumped_its_stacks(title, port) -> None:
    """A SIGSTOPped worker cannot run faulthandler's dump: the kill line says it was
    stopped, and only a worker whose loop is blocked is said to have its stacks on stderr."""
    with Cluster(CHAOS, title, port, workers=1, worker_timeout=1000) as cluster:
        worker = cluster.processes()["app"][0]
        worker.send_signal(signal.SIGSTOP)
        wait_until(lambda: f":{worker.pid} died" in cluster.output()[0], timeout=8)
        out, err = cluster.output()
    line = next(ln for ln in out.splitlines() if "sent no heartbeat" in ln)
    print(f"figures: {line.split('] ', 1)[-1]}")
    assert "the process is stopped" in line, line
    assert "stacks" not in line, line
    assert "Timeout (0:00:01)!" not in err


@pytest.mark.long
def test_repeated_pauses_under_load(title, port) -> None:
    """Five 3 s pauses (SIGSTOP/SIGCONT), 2 s apart, under load: nothing killed, no
    request failed."""
    with Cluster(CHAOS, title, port, workers=2, worker_timeout=1000) as cluster:
        before = {p.pid for ps in cluster.processes().values() for p in ps}
        with Load(port, "/", clients=4) as load:
            for _ in range(5):
                cluster.signal(signal.SIGSTOP)
                time.sleep(3.0)
                cluster.signal(signal.SIGCONT)
                time.sleep(2.0)
        after = {p.pid for ps in cluster.processes().values() for p in ps}
        out, _ = cluster.output()
    result = load.result
    print(f"figures: 5 pauses of 3 s at worker_timeout 1 s: {result.ok} ok, {result.failed} "
          f"failed, {len(before - after)} children killed")  # fmt: skip
    assert after == before and "sent no heartbeat" not in out
    assert result.failed == 0, result.errors
