"""The pool converges, on the fake spawner (tests/master_fakes.py): whatever happens (a
reload whose canary hangs, a crash mid-reload, a scale mid-reload, failed forks, a worker
that never boots), `maintain()` brings the pool back to exactly the target."""

from __future__ import annotations

import errno
import random
import signal
from typing import Any

import pytest

from runtime.contract import capacity
from runtime.master.children.states import ChildState
from tests.master_fakes import FakeCluster, make_fixture  # noqa: F401 (the `make` fixture)

SIGKILL, SIGTERM = signal.SIGKILL, signal.SIGTERM
S = ChildState


def reload(c: FakeCluster, timeout_ms: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    assert c.master.begin_reload(lambda e, d: events.append((e, d)), timeout_ms) is None
    c.step()
    return events


def done(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    (data,) = [d for e, d in events if e == "done"]
    return data


def settle(c: FakeCluster, hung: set[int] = frozenset(), rounds: int = 400) -> None:  # type: ignore[assignment]
    """Play well-behaved children until nothing moves: a booting child starts (unless its
    pid is `hung`), a signalled one exits (SIGKILL kills; SIGTERM drains, then exits)."""
    for _ in range(rounds):
        for child in list(c.spawner.children.values()):
            handle = c.master.children.by_pid.get(child.pid)
            if handle is None:
                continue
            if SIGKILL in child.signals:
                c.spawner.exit(child, sig=SIGKILL)
            elif SIGTERM in child.signals:
                c.spawner.exit(child, 0)
            elif handle.state is S.BOOTING and child.pid not in hung:
                child.started(listen={})
        c.advance(0.25)
        if converged(c) and c.state.reload is None:
            return


def converged(c: FakeCluster) -> bool:
    apps = c.master.children.apps()
    agent = c.master.children.agent
    return (
        len(apps) == c.state.target_workers
        and all(h.state is S.SERVING for h in apps)
        and agent is not None
        and agent.state is S.SERVING
    )


def pool_size(c: FakeCluster) -> int:
    return len(c.master.children.apps())


# -- reload ------------------------------------------------------------------------------
def test_a_canary_hung_at_boot_is_killed_at_the_reload_timeout(make: Any) -> None:
    c = make(workers=2, startup_timeout=60000).ready()
    old = list(c.spawner.apps)
    events = reload(c, timeout_ms=5000)
    c.swap_agent()
    canary = c.spawner.apps[-1]
    assert pool_size(c) == 3
    c.advance(5.1)  # never says app-start
    assert "--timeout" in done(events)["error"] and not done(events)["ok"]
    assert canary.signals == [SIGKILL] and all(a.signals == [] for a in old)
    c.spawner.exit(canary, sig=SIGKILL)
    c.step()
    assert pool_size(c) == 2 and c.phase == "ready"
    events = reload(c)  # the next reload ends with exactly the target
    settle(c)
    assert done(events)["ok"] and converged(c) and pool_size(c) == 2


def test_a_canary_hung_past_the_startup_timeout_is_killed_and_fails_the_reload(
    make: Any,
) -> None:
    c = make(workers=2, startup_timeout=3000).ready()
    events = reload(c)
    c.swap_agent()
    canary = c.spawner.apps[-1]
    c.advance(3.1)
    assert canary.signals == [SIGKILL]
    assert "did not start within 3000 ms" in done(events)["error"]
    settle(c)
    assert converged(c) and pool_size(c) == 2


def test_a_crash_during_a_reload_converges_to_the_target(make: Any) -> None:
    c = make(workers=3).ready()
    old = list(c.spawner.apps)
    events = reload(c)
    c.spawner.exit(c.spawner.agent, 0)
    c.step()
    c.spawner.exit(old[2], sig=SIGKILL)  # crashes before the new agent even started
    c.step()
    settle(c)
    assert done(events)["ok"] and converged(c) and pool_size(c) == 3
    assert not {h.pid for h in c.master.children.apps()} & {a.pid for a in old}


def test_scale_during_a_reload_converges_to_the_new_target(make: Any) -> None:
    c = make(workers=2).ready()
    events = reload(c)
    c.signal(signal.SIGTTIN)
    c.signal(signal.SIGTTIN)
    settle(c)
    assert done(events)["ok"] and converged(c) and pool_size(c) == 4
    events = reload(c)
    c.signal(signal.SIGTTOU)
    settle(c)
    assert done(events)["ok"] and converged(c) and pool_size(c) == 3
    assert sorted(h.id for h in c.master.children.apps()) == [1, 2, 3]


def test_sigttin_past_the_worker_bound_is_refused_with_one_line(
    make: Any, caplog: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(capacity, "max_workers", lambda: (3, "a test bound"))
    c = make(workers=2).ready()
    with caplog.at_level("WARNING", logger="eggscripts.test-master"):
        c.signal(signal.SIGTTIN)
        settle(c)
        assert converged(c) and pool_size(c) == 3 and not caplog.records
        c.signal(signal.SIGTTIN)
        settle(c)
    assert converged(c) and pool_size(c) == 3 and c.state.target_workers == 3
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("SIGTTIN refused: 4 is more workers") and "a test bound" in line


def test_sigttou_at_one_worker_is_refused_with_one_line(make: Any, caplog: Any) -> None:
    c = make(workers=1).ready()
    with caplog.at_level("WARNING", logger="eggscripts.test-master"):
        c.signal(signal.SIGTTOU)
        settle(c)
    assert converged(c) and pool_size(c) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "SIGTTOU refused: a cluster needs at least 1 app worker"
    ]


# -- failures after ready ----------------------------------------------------------------
def test_failed_forks_on_scale_up_are_retried_until_the_target(make: Any) -> None:
    c = make(workers=1).ready()
    c.spawner.fail_next = [BlockingIOError(errno.EAGAIN, "fork")] * 3
    c.master.scale_to(4)
    c.step()
    assert pool_size(c) == 1 and c.master.exit_code is None
    settle(c)
    assert converged(c) and pool_size(c) == 4


def test_a_worker_that_never_boots_is_killed_at_the_startup_timeout_and_replaced(
    make: Any,
) -> None:
    c = make(workers=2, startup_timeout=2000).ready()
    c.spawner.exit(c.spawner.apps[0], sig=SIGKILL)
    c.step()
    stuck = c.spawner.apps[-1]
    c.advance(1.9)
    assert stuck.signals == []
    c.advance(0.2)
    assert stuck.signals == [SIGKILL]
    assert c.master.children.by_pid[stuck.pid].state is S.KILLED
    assert pool_size(c) == 2  # its successor waits for its exit (and its worker id)
    c.spawner.exit(stuck, sig=SIGKILL)
    settle(c)
    assert converged(c) and sorted(h.id for h in c.master.children.apps()) == [1, 2]


DISTURBANCES = ("reload", "ttin", "ttou", "crash", "fork-fails")


def disturb(c: FakeCluster, rng: random.Random, what: str) -> None:
    """One random event of `DISTURBANCES` (anything else: none), then a few passes in which
    some children, picked at random, hang."""
    if what == "reload":
        c.master.begin_reload(None, rng.choice([None, 1500]))
    elif what == "ttin":
        c.signal(signal.SIGTTIN)
    elif what == "ttou":
        c.signal(signal.SIGTTOU)
    elif what == "crash" and c.spawner.children:
        c.spawner.exit(rng.choice(list(c.spawner.children.values())), sig=SIGKILL)
    elif what == "fork-fails":
        c.spawner.fail_next.append(BlockingIOError(errno.EAGAIN, "fork"))
    hung = {h.pid for h in c.master.children.all() if rng.random() < 0.2}
    for _ in range(rng.randint(1, 4)):
        settle(c, hung=hung, rounds=1)


@pytest.mark.parametrize("seed", range(8))
def test_any_sequence_of_reload_scale_crash_failed_fork_and_timeout_converges(
    make: Any, seed: int
) -> None:
    rng = random.Random(seed)
    c = make(workers=2, startup_timeout=2000, refork_limit=1000).ready()
    for _ in range(25):
        disturb(c, rng, rng.choice([*DISTURBANCES, "hang", "pass"]))
    settle(c)
    assert c.master.exit_code is None
    assert converged(c), sorted((h.role, h.id, h.state.value) for h in c.master.children.all())
    assert sorted(h.id for h in c.master.children.apps()) == list(
        range(1, c.state.target_workers + 1)
    )


def test_a_reload_brings_back_an_agent_the_refork_limit_gave_up_on(make: Any) -> None:
    c = make(workers=1, refork_limit=1, agent_restart_delay=100).ready()
    c.spawner.exit(c.spawner.agent, 1)  # restarted once...
    c.step()
    c.advance(0.3)
    c.spawner.exit(c.spawner.agent, 1)  # ...then the limit: no agent any more
    c.step()
    c.advance(0.3)
    assert c.spawner.role("agent") == []
    events = reload(c)
    assert len(c.spawner.role("agent")) == 1  # the new code gets its chance at once
    settle(c)
    assert done(events)["ok"] and converged(c)


def test_the_agent_death_line_says_when_it_restarts(make: Any, caplog: Any) -> None:
    c = make(agent_restart_delay=1000).ready()
    agent = c.master.children.agent
    c.spawner.exit(c.spawner.agent, 1)
    with caplog.at_level("INFO", logger="eggscripts.test-master"):
        c.step()
    lines = [r.getMessage() for r in caplog.records if f":{agent.pid} " in r.getMessage()]
    assert lines == [f"agent_worker#1:{agent.pid} died (exit code 1 (ERROR)), restart after 1s"]
