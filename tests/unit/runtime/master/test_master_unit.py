"""Master decisions without a single fork: the real `Master` over `FakeSpawner` children and
a fake clock (tests/master_fakes.py). Each test runs in milliseconds. This file: deaths,
replacement, backoff, watchdogs, signals and the graceful stop; the start, the reload and
the production wiring have their own test_master_*.py."""

from __future__ import annotations

import errno
import signal
from pathlib import Path

from runtime.contract.exitcodes import ExitCode
from runtime.contract.messages import Action
from runtime.master.children.states import ChildState
from tests.master_fakes import FakeCluster, make_fixture  # noqa: F401 (the `make` fixture)

SIGKILL, SIGTERM = signal.SIGKILL, signal.SIGTERM


# -- after ready -------------------------------------------------------------------------
def test_a_dead_worker_gets_exactly_one_replacement_with_its_worker_id(make) -> None:
    c = make(workers=2).ready()
    victim = c.spawner.apps[0]
    c.spawner.exit(victim, sig=SIGKILL)
    c.step()
    assert len(c.spawner.apps) == 2
    newcomer = c.spawner.apps[-1]
    assert newcomer.id == victim.id  # stable ids 1..N
    assert c.master.children.restarts[("app", victim.id)][0] == 1


def test_disconnect_replaces_at_once_and_the_exit_is_not_replaced_again(make) -> None:
    c = make(workers=1).ready()
    faulty = c.spawner.apps[0]
    faulty.send(Action.DISCONNECT, {"pid": faulty.pid, "reason": "boom"})
    c.step()
    assert len(c.spawner.apps) == 2  # the replacement boots while the faulty one drains
    c.spawner.exit(faulty, 1)
    c.step()
    assert len(c.spawner.apps) == 1


def test_refork_backoff_then_limit(make) -> None:
    c = make(workers=1, refork_limit=3).ready()
    for expected_delay in (0.0, 0.1, 0.2):
        before = set(c.master.children.by_pid)
        victim = c.spawner.apps[0]
        c.spawner.exit(victim, 1)
        c.step()
        if expected_delay:
            assert set(c.master.children.by_pid) - before == set()  # waits its backoff
            c.advance(expected_delay + 0.01)
        assert len(c.spawner.apps) == 1  # dies before app-start: a boot failure, backoff grows
    c.spawner.exit(c.spawner.apps[0], 1)
    c.step()
    assert c.spawner.apps == []  # limit reached: no replacement, nothing left, close
    assert c.state.close_code == ExitCode.ERROR


def test_failed_fork_after_ready_is_retried_and_the_master_survives(make) -> None:
    c = make(workers=2).ready()
    c.spawner.fail_next = [BlockingIOError(errno.EAGAIN, "fork")] * 2
    c.spawner.exit(c.spawner.apps[0], sig=SIGKILL)
    c.step()
    assert len(c.spawner.apps) == 1 and c.master.exit_code is None
    assert c.when(lambda: len(c.spawner.apps) == 2, seconds=5)


def test_agent_restart_after_delay_and_its_start_timeout(make) -> None:
    c = make(agent_restart_delay=1000, startup_timeout=2000).ready()
    old = c.spawner.agent
    c.spawner.exit(old, sig=SIGKILL)
    c.step()
    assert c.spawner.role("agent") == []
    assert all("agent-exit" in a.received() for a in c.spawner.apps)
    c.advance(1.01)
    new = c.spawner.agent
    c.advance(2.1)  # never says agent-start: killed, and restarted again after the delay
    assert new.signals == [SIGKILL]
    assert c.master.children.agent.state is ChildState.KILLED


def test_agent_crash_loop_backs_off(make) -> None:
    c = make(agent_restart_delay=1000).ready()
    delays = []
    for _ in range(3):
        c.spawner.agent.started(listen={})
        c.step()
        c.spawner.exit(c.spawner.agent, 1)
        c.step()
        waited = 0.0
        while not c.spawner.role("agent"):
            c.advance(0.1)
            waited += 0.1
        delays.append(round(waited, 1))
    assert delays[0] < delays[1] < delays[2]


def test_health_check_exits_1_after_three_checks_without_an_agent(make) -> None:
    c = make(workers=1, refork_limit=1, agent_restart_delay=100, health_interval=1000).ready()
    c.spawner.exit(c.spawner.agent, 1)  # restarted once...
    c.step()
    c.advance(0.2)
    c.spawner.exit(c.spawner.agent, 1)  # ...then the limit: no agent any more
    c.step()
    c.advance(0.2)
    assert c.spawner.role("agent") == [] and c.phase == "ready"
    for _ in range(20):  # two empty checks, a second apart: still up
        c.advance(0.1)
    assert c.phase == "ready"
    for _ in range(10):  # the third: exit 1 so a supervisor restarts the cluster
        c.advance(0.1)
    assert c.phase == "stopping" and c.state.close_code == ExitCode.ERROR


def test_no_worker_left_after_the_refork_limit_closes_with_1(make) -> None:
    c = make(workers=1, refork_limit=1).ready()
    c.spawner.exit(c.spawner.apps[0], 1)  # replaced once
    c.step()
    c.spawner.exit(c.spawner.apps[0], 1)  # limit: not replaced; nothing left
    c.step()
    assert c.state.close_code == ExitCode.ERROR


def test_an_unexpected_master_error_exits_1_not_0(make, tmp_path: Path) -> None:
    from runtime.master.loop import Master
    from tests.master_fakes import Clock, FakeSignals, FakeSpawner

    class Broken(FakeSpawner):
        def spawn_agent(self, options: object, leader: object) -> tuple[int, object]:
            raise RuntimeError("a bug")

    c = make()
    master = Master(c.options, Broken(), Clock(), c.log)
    master.open = lambda signals=None: Master.open(master, FakeSignals())  # type: ignore[method-assign]
    master.make_endpoint = lambda: None  # type: ignore[method-assign]
    master.setup_logs = lambda: None  # type: ignore[method-assign]
    assert master.run() == ExitCode.ERROR


def test_heartbeat_kill_and_a_paused_master_kills_nobody(make) -> None:
    c = make(workers=2, worker_timeout=2000).ready()
    quiet, chatty = c.spawner.apps
    for _ in range(12):
        chatty.send(Action.HEARTBEAT, {"requests": 1})
        c.advance(0.25)
    assert quiet.signals == [SIGKILL] and chatty.signals == []
    assert c.master.children.by_pid[chatty.pid].stats == {"requests": 1}
    # The master is paused for 10 s; both kept beating into their sockets meanwhile.
    c.spawner.exit(quiet, sig=SIGKILL)
    c.step()
    new = c.spawner.apps[-1]
    new.started()
    c.step()
    for child in (chatty, new):
        child.send(Action.HEARTBEAT)
    c.clock.now += 10
    c.step()
    assert chatty.signals == [] and new.signals == []


# -- signals and stop --------------------------------------------------------------------
def test_graceful_stop_apps_then_agent_with_deadlines(make) -> None:
    c = make(workers=2, kill_app_timeout=1000, kill_agent_timeout=1000).ready()
    c.signal(signal.SIGTERM)
    stubborn, polite = c.spawner.apps
    assert stubborn.signals == [SIGTERM] == polite.signals and c.spawner.agent.signals == []
    c.spawner.exit(polite, 0)
    c.advance(1.05)
    assert stubborn.signals == [SIGTERM, SIGKILL]
    c.spawner.exit(stubborn, sig=SIGKILL)
    c.step()
    agent = c.spawner.agent
    assert agent.signals == [SIGTERM]
    c.advance(1.05)  # the agent's own deadline, never cancelled by the apps' stage
    assert agent.signals == [SIGTERM, SIGKILL]
    c.spawner.exit(agent, sig=SIGKILL)
    c.step()
    assert c.master.exit_code == ExitCode.OK


def test_agent_deadline_holds_when_closing_with_no_app_worker(make) -> None:
    c = make(startup_timeout=1000, kill_agent_timeout=1000)
    c.advance(1.05)  # the agent hangs at boot: the start fails, the agent must be killed
    assert c.spawner.agent.signals == [SIGTERM]
    c.advance(1.05)
    assert c.spawner.agent.signals == [SIGTERM, SIGKILL]


def test_second_sigint_kills_everything(make) -> None:
    c = make(workers=1).ready()
    c.signal(signal.SIGINT)
    c.signal(signal.SIGINT)
    assert c.spawner.apps[0].signals == [SIGTERM, SIGKILL]
    assert SIGKILL in c.spawner.agent.signals
    assert c.state.close_code == ExitCode.ERROR


def test_ttin_ttou_scale_by_one_and_drain_the_newest(make) -> None:
    c = make(workers=1).ready()
    c.signal(signal.SIGTTIN)
    assert len(c.spawner.apps) == 2 and c.state.target_workers == 2
    c.spawner.apps[1].started()
    c.step()
    c.signal(signal.SIGTTOU)
    newest = c.spawner.apps[1]
    assert newest.signals == [SIGTERM] and c.spawner.apps[0].signals == []
    assert c.master.children.by_pid[newest.pid].state is ChildState.STOPPING
    c.spawner.exit(newest, 0)
    c.step()
    assert len(c.spawner.apps) == 1  # a drained worker is not replaced
    c.signal(signal.SIGTTOU)
    assert c.state.target_workers == 1  # never below one
