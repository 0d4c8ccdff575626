"""Worker recycling decided on the fake spawner (tests/master_fakes.py): `--max-requests`
with its jitter and `--max-worker-memory` replace one worker at a time, the replacement
serves before the old one leaves, a failed fork keeps the old one serving, and a reload
pauses recycling (runtime/master/lifecycle/recycle.py)."""

from __future__ import annotations

import errno
import logging
import signal

import pytest

from runtime.contract.messages import Action
from runtime.master.children.states import ChildState
from runtime.master.lifecycle.recycle import BY_MEMORY, BY_REQUESTS
from tests.master_fakes import FakeChild, FakeCluster, make_fixture  # noqa: F401 (`make`)

S = ChildState
MIB = 1024 * 1024


def beat(c: FakeCluster, child: FakeChild, requests: int = 0, rss_mib: int = 50) -> None:
    child.send(Action.HEARTBEAT, {"requests": requests, "in_flight": 0, "rss": rss_mib * MIB})
    c.step()


def serving(c: FakeCluster) -> list[int]:
    return [h.pid for h in c.master.children.serving()]


def state_of(c: FakeCluster, child: FakeChild) -> S:
    return c.master.children.by_pid[child.pid].state


def test_a_worker_at_its_request_limit_is_replaced_after_its_successor_serves(make) -> None:
    c = make(workers=2, max_requests=100).ready()
    first, second = c.spawner.apps
    beat(c, first, requests=99)
    assert len(c.spawner.apps) == 2  # not due yet
    beat(c, first, requests=100)
    assert len(c.spawner.apps) == 3  # one extra, in the same slot
    new = c.spawner.apps[-1]
    assert new.id == first.id
    # Until the new one serves, both old ones keep serving and nobody is signalled.
    beat(c, second, requests=500)  # due too, but one at a time
    assert len(c.spawner.apps) == 3 and len(serving(c)) == 2 and not first.signals
    new.started()
    c.step()
    assert state_of(c, first) is S.LEAVING and signal.SIGTERM in first.signals
    assert len(serving(c)) == 2  # never below N
    status = c.master.children.restarts[("app", first.id)]
    assert status == [1, BY_REQUESTS]
    # The second one is next, only now.
    assert len(c.spawner.apps) == 4
    c.spawner.exit(first, 0)
    c.step()
    assert len(c.spawner.apps) == 3  # the old one's exit was not replaced
    c.spawner.apps[-1].started()
    c.step()
    assert state_of(c, second) is S.LEAVING
    c.spawner.exit(second, 0)
    c.step()
    assert len(c.spawner.apps) == 2 and len(serving(c)) == 2
    assert sorted(h.id for h in c.master.children.serving()) == [1, 2]


def test_jitter_draws_each_limit_within_bounds_once(make) -> None:
    c = make(workers=2, max_requests=100, max_requests_jitter=50).ready()
    recycler = c.master.pool.recycler
    draws: list[tuple[int, int]] = []

    def randint(low: int, high: int) -> int:
        draws.append((low, high))
        return 37

    recycler.randint = randint
    recycler.limits.clear()  # drawn with the real randint on the first passes
    first = c.spawner.apps[0]
    beat(c, first, requests=136)
    beat(c, first, requests=136)
    assert draws == [(0, 50)] * 2  # once per worker: both workers judged once
    assert len(c.spawner.apps) == 2
    beat(c, first, requests=137)
    assert len(c.spawner.apps) == 3
    # The real draw stays within [N, N + J].
    recycler.randint = __import__("random").randint
    limits = {recycler.limit_of(h) for h in c.master.children.apps() for _ in range(3)}
    assert all(100 <= limit <= 150 for limit in limits)


def test_over_the_memory_limit_is_recycled_with_its_cause(make, caplog) -> None:
    c = make(workers=2, max_worker_memory=200).ready()
    first = c.spawner.apps[0]
    beat(c, first, rss_mib=200)
    assert len(c.spawner.apps) == 2  # at the limit is not over it
    with caplog.at_level(logging.INFO, "eggscripts.test-master"):
        beat(c, first, rss_mib=250)
    assert len(c.spawner.apps) == 3
    assert "memory: 250 MiB > --max-worker-memory 200" in caplog.text
    c.spawner.apps[-1].started()
    c.step()
    assert state_of(c, first) is S.LEAVING
    assert c.master.children.restarts[("app", first.id)] == [1, BY_MEMORY]


def test_memory_without_rss_in_the_heartbeat_asks_psutil(make, monkeypatch) -> None:
    import psutil

    class Proc:
        def __init__(self, pid: int) -> None:
            self.pid = pid

        def memory_info(self) -> object:
            return type("M", (), {"rss": 300 * MIB})()

    monkeypatch.setattr(psutil, "Process", Proc)
    c = make(workers=1, max_worker_memory=200).ready()
    c.spawner.apps[0].send(Action.HEARTBEAT, {"requests": 1, "in_flight": 0})
    c.step()
    assert len(c.spawner.apps) == 2


def test_fork_failure_keeps_the_old_worker_serving_and_is_logged(make, caplog) -> None:
    c = make(workers=2, max_worker_memory=100).ready()
    first = c.spawner.apps[0]
    c.spawner.fail_next = [BlockingIOError(errno.EAGAIN, "fork")]
    with caplog.at_level(logging.INFO, "eggscripts.test-master"):
        beat(c, first, rss_mib=500)
    assert len(c.spawner.apps) == 2 and len(serving(c)) == 2 and not first.signals
    assert "cannot recycle app worker #1" in caplog.text and "keeps serving" in caplog.text
    assert c.master.children.restarts.get(("app", first.id)) is None
    # It is tried again after a back-off, not at once.
    beat(c, first, rss_mib=500)
    assert len(c.spawner.apps) == 2
    c.advance(1.1)
    beat(c, first, rss_mib=500)
    assert len(c.spawner.apps) == 3


def test_a_replacement_that_dies_booting_leaves_the_old_one_serving(make, caplog) -> None:
    c = make(workers=2, max_requests=10).ready()
    first = c.spawner.apps[0]
    beat(c, first, requests=10)
    new = c.spawner.apps[-1]
    with caplog.at_level(logging.INFO, "eggscripts.test-master"):
        c.spawner.exit(new, 1)
        c.step()
    assert "died before it started" in caplog.text
    assert len(c.spawner.apps) == 2 and len(serving(c)) == 2 and not first.signals
    assert c.master.pool.apps_given_up == 0  # not a death of a slot: nothing refilled
    c.advance(1.1)
    beat(c, first, requests=11)
    assert len(c.spawner.apps) == 3


def test_no_recycling_while_a_worker_is_missing(make) -> None:
    c = make(workers=2, max_requests=10).ready()
    first, second = c.spawner.apps
    c.spawner.exit(second, 1)  # crashed: its replacement boots
    c.step()
    assert len(c.spawner.apps) == 2
    beat(c, first, requests=50)
    assert len(c.spawner.apps) == 2  # would leave fewer than N serving meanwhile
    c.spawner.apps[-1].started()
    c.step()
    assert len(c.spawner.apps) == 3  # now it goes


def test_a_reload_pauses_recycling_and_cancels_a_booting_replacement(make) -> None:
    c = make(workers=2, max_requests=10).ready()
    first, second = c.spawner.apps
    beat(c, first, requests=10)
    new = c.spawner.apps[-1]
    assert c.master.begin_reload() is None
    c.step()
    assert signal.SIGTERM in new.signals  # the reload replaces every worker anyway
    c.spawner.exit(new, 0)
    c.step()
    assert c.master.pool.recycler.new is None
    beat(c, first, requests=100)
    assert len(c.spawner.apps) == 2  # paused while the reload runs
    c.swap_agent()
    for old in (first, second):
        c.swap_one_worker(old)
    assert c.state.reload is None and len(serving(c)) == 2
    assert c.master.children.restarts.get(("app", first.id)) is None


def test_off_by_default(make) -> None:
    c = make(workers=1).ready()
    beat(c, c.spawner.apps[0], requests=10**9, rss_mib=10**5)
    assert len(c.spawner.apps) == 1


@pytest.mark.parametrize("option", ["max_requests", "max_requests_jitter", "max_worker_memory"])
def test_negative_limits_are_refused(tmp_path, option) -> None:
    from runtime.process.cluster_options import ClusterOptions
    from runtime.process.errors import OptionsError

    with pytest.raises(OptionsError, match=f"{option} must be >= 0"):
        ClusterOptions.from_dict({"base_dir": str(tmp_path), "title": "t", option: -1})


def test_the_old_worker_crashing_meanwhile_leaves_its_replacement_in_the_slot(make) -> None:
    c = make(workers=2, max_requests=10).ready()
    first, second = c.spawner.apps
    beat(c, first, requests=10)
    new = c.spawner.apps[-1]
    c.spawner.exit(first, 1)  # dies before its replacement serves
    c.advance(1)
    assert len(c.spawner.apps) == 2  # the replacement fills the slot: no third fork
    new.started()
    c.step()
    assert sorted(serving(c)) == sorted([second.pid, new.pid])
    assert c.master.pool.recycler.new is None


@pytest.mark.parametrize("seed", range(6))
def test_recycling_mixed_with_reload_scale_crash_and_failed_fork_converges(make, seed: int) -> None:
    import random

    from tests.unit.runtime.master.test_master_pool import (
        DISTURBANCES,
        converged,
        disturb,
        settle,
    )

    rng = random.Random(seed)
    c = make(workers=2, startup_timeout=2000, refork_limit=1000, max_requests=10).ready()
    for _ in range(25):
        what = rng.choice(["due", "due", *DISTURBANCES])
        if what == "due" and c.master.children.serving():
            handle = rng.choice(c.master.children.serving())
            c.spawner.children[handle.pid].send(Action.HEARTBEAT, {"requests": 10})
        disturb(c, rng, what)
    settle(c)
    c.advance(31)  # past any recycling back-off
    settle(c)
    assert c.master.exit_code is None
    assert converged(c), sorted((h.role, h.id, h.state.value) for h in c.master.children.all())
    assert sorted(h.id for h in c.master.children.apps()) == list(
        range(1, c.state.target_workers + 1)
    )
    assert c.master.pool.recycler.new is None
