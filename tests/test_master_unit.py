"""Master decisions without a single fork: the real `Master` over `FakeSpawner` children and
a fake clock (tests/master_fakes.py). Each test runs in milliseconds."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.contract.exitcodes import ExitCode
from runtime.contract.messages import Action
from runtime.master.states import TRANSITIONS, ChildState, InvalidTransition, check_transition
from tests.master_fakes import FakeCluster

SIGKILL, SIGTERM = signal.SIGKILL, signal.SIGTERM


@pytest.fixture
def make(tmp_path: Path) -> Iterator[object]:
    clusters: list[FakeCluster] = []

    def build(**options: object) -> FakeCluster:
        cluster = FakeCluster(tmp_path, **options)
        clusters.append(cluster)
        return cluster

    yield build
    for cluster in clusters:
        cluster.close()


def states(c: FakeCluster) -> list[tuple[str, ChildState]]:
    return sorted((h.role, h.state) for h in c.master.children.all())


# -- the state table ---------------------------------------------------------------------
def test_every_state_has_its_transitions_and_exited_is_final() -> None:
    assert set(TRANSITIONS) == set(ChildState)
    assert TRANSITIONS[ChildState.EXITED] == frozenset()
    check_transition(ChildState.BOOTING, ChildState.SERVING)
    with pytest.raises(InvalidTransition):
        check_transition(ChildState.STOPPING, ChildState.SERVING)
    with pytest.raises(InvalidTransition):
        check_transition(ChildState.EXITED, ChildState.BOOTING)


# -- start-up ----------------------------------------------------------------------------
def test_start_sequence_agent_then_workers_then_ready(make) -> None:
    c = make(workers=2)
    assert len(c.spawner.role("agent")) == 1 and c.spawner.apps == []
    c.spawner.agent.started(listen={})
    c.step()
    assert len(c.spawner.apps) == 2 and c.spawner.prepared == 1
    first, second = c.spawner.apps
    first.started()
    c.step()
    # egg-cluster: the agent learns the worker pids at every app-start, before egg-ready.
    assert c.spawner.agent.data_of(Action.EGG_PIDS) == [[first.pid]]
    second.started()
    c.step()
    assert c.master.phase.value == "ready"
    assert c.spawner.agent.data_of(Action.EGG_PIDS)[:2] == [[first.pid], [first.pid, second.pid]]
    assert "egg-ready" in second.received() and "egg-ready" in c.spawner.agent.received()


def test_agent_startup_error_fails_with_4_and_stops_everything(make) -> None:
    c = make()
    c.spawner.agent.send(Action.STARTUP_ERROR, {"message": "config.py:1: SyntaxError"})
    c.step()
    assert c.master.close_code == ExitCode.APP_LOAD_ERROR
    assert c.spawner.agent.signals == [SIGTERM]  # stop order: no apps, then the agent
    c.spawner.exit(c.spawner.agent, 4)
    c.step()
    assert c.master.exit_code == ExitCode.APP_LOAD_ERROR


def test_agent_dying_silently_fails_with_5(make) -> None:
    c = make()
    c.spawner.exit(c.spawner.agent, sig=SIGKILL)
    c.step()
    assert c.master.exit_code == ExitCode.AGENT_START_ERROR


def test_worker_dying_before_app_start_fails_with_3_apps_stopped_before_agent(make) -> None:
    c = make(workers=2)
    c.spawner.agent.started(listen={})
    c.step()
    dead, alive = c.spawner.apps
    c.spawner.exit(dead, 7)
    c.step()
    assert c.master.close_code == ExitCode.WORKER_BOOT_ERROR
    assert alive.signals == [SIGTERM] and c.spawner.agent.signals == []
    c.spawner.exit(alive, 0)
    c.step()
    assert c.spawner.agent.signals == [SIGTERM]
    c.spawner.exit(c.spawner.agent, 0)
    c.step()
    assert c.master.exit_code == ExitCode.WORKER_BOOT_ERROR


def test_startup_timeout_is_3_once_the_agent_is_up_else_5(make) -> None:
    c = make(startup_timeout=1000)
    c.spawner.agent.started(listen={})
    c.advance(1.1)
    assert c.master.close_code == ExitCode.WORKER_BOOT_ERROR
    c2 = make(startup_timeout=1000)
    c2.advance(1.1)
    assert c2.master.close_code == ExitCode.AGENT_START_ERROR


def test_failed_fork_at_start_fails_the_start(make) -> None:
    c = make(workers=2)
    c.spawner.fail_next = [BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")]
    c.spawner.agent.started(listen={})
    c.step()
    assert c.master.close_code == ExitCode.WORKER_BOOT_ERROR


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
    faulty.send(Action.DISCONNECT, {"reason": "boom"})
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
    assert c.master.close_code == ExitCode.ERROR


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
    assert c.spawner.role("agent") == [] and c.master.phase.value == "ready"
    for _ in range(20):  # two empty checks, a second apart: still up
        c.advance(0.1)
    assert c.master.phase.value == "ready"
    for _ in range(10):  # the third: exit 1 so a supervisor restarts the cluster
        c.advance(0.1)
    assert c.master.phase.value == "stopping" and c.master.close_code == ExitCode.ERROR


def test_no_worker_left_after_the_refork_limit_closes_with_1(make) -> None:
    c = make(workers=1, refork_limit=1).ready()
    c.spawner.exit(c.spawner.apps[0], 1)  # replaced once
    c.step()
    c.spawner.exit(c.spawner.apps[0], 1)  # limit: not replaced; nothing left
    c.step()
    assert c.master.close_code == ExitCode.ERROR


def test_an_unexpected_master_error_exits_1_not_0(make, tmp_path: Path) -> None:
    from runtime.master.loop import Master
    from tests.master_fakes import Clock, FakeSignals, FakeSpawner

    class Broken(FakeSpawner):
        def spawn_agent(self, options: object, leader: object) -> tuple[int, object]:
            raise RuntimeError("a bug")

    c = make()
    master = Master(c.options, Broken(), Clock(), c.log)
    master.open = lambda signals=None: Master.open(master, FakeSignals())  # type: ignore[method-assign]
    master.startup.make_endpoint = lambda: None  # type: ignore[method-assign]
    master.startup.setup_logs = lambda: None  # type: ignore[method-assign]
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
    assert c.master.close_code == ExitCode.ERROR


def test_ttin_ttou_scale_by_one_and_drain_the_newest(make) -> None:
    c = make(workers=1).ready()
    c.signal(signal.SIGTTIN)
    assert len(c.spawner.apps) == 2 and c.master.target_workers == 2
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
    assert c.master.target_workers == 1  # never below one


# -- rolling reload ----------------------------------------------------------------------
def reload(c: FakeCluster) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    assert c.master.begin_reload(lambda event, data: events.append((event, data))) is None
    c.step()
    return events


def test_reload_replaces_agent_then_workers_one_at_a_time(make) -> None:
    c = make(workers=2).ready()
    old_agent, old_apps = c.spawner.agent, list(c.spawner.apps)
    events = reload(c)
    assert c.master.state_name == "reloading"
    assert old_agent.signals == [SIGTERM] and len(c.spawner.apps) == 2
    assert c.master.begin_reload() == "a reload is already in progress"
    c.spawner.exit(old_agent, 0)
    c.step()
    new_agent = c.spawner.agent
    assert new_agent is not old_agent and len(c.spawner.apps) == 2  # agent first
    new_agent.started(listen={})
    c.step()
    for step in range(2):
        assert len(c.master.children.pool()) == 3  # one extra: capacity never below N
        fresh = c.spawner.apps[-1]
        assert all(a.signals == [] for a in old_apps[step:])
        fresh.started()
        c.step()
        assert old_apps[step].signals == [SIGTERM]  # retired only once its successor serves
        c.spawner.exit(old_apps[step], 0)
        c.step()
    done = [d for e, d in events if e == "done"]
    assert done and done[0]["ok"] and done[0]["replaced"] == 2
    assert sorted(h.id for h in c.master.children.pool()) == [1, 2]  # ids stay 1..N
    assert sorted(done[0]["pids"]) == sorted(a.pid for a in c.spawner.apps)
    assert len(c.spawner.apps) == 2 and c.master.state_name == "ready"


def test_reload_canary_failure_touches_no_old_worker(make) -> None:
    c = make(workers=2).ready()
    old_apps = list(c.spawner.apps)
    events = reload(c)
    c.spawner.exit(c.spawner.agent, 0)
    c.step()
    c.spawner.agent.started(listen={})
    c.step()
    canary = c.spawner.apps[-1]
    canary.send(Action.STARTUP_ERROR, {"message": "router.py:2: KeyError: 'users'"})
    c.step()
    assert canary.signals == [SIGTERM]
    c.spawner.exit(canary, 4)
    c.step()
    assert all(a.signals == [] for a in old_apps) and len(c.spawner.apps) == 2
    (done,) = [d for e, d in events if e == "done"]
    assert not done["ok"] and "router.py:2" in done["error"]
    assert "old workers keep serving" in done["error"]


def test_stop_during_reload_wins(make) -> None:
    c = make(workers=1).ready()
    events = reload(c)
    c.signal(signal.SIGTERM)
    (done,) = [d for e, d in events if e == "done"]
    assert not done["ok"] and "interrupted" in done["error"]


def test_a_worker_crash_during_reload_is_replaced_and_the_roll_completes(make) -> None:
    c = make(workers=2).ready()
    old_apps = list(c.spawner.apps)
    events = reload(c)
    c.spawner.exit(c.spawner.agent, 0)
    c.step()
    c.spawner.agent.started(listen={})
    c.step()
    canary = c.spawner.apps[-1]
    c.spawner.exit(old_apps[1], sig=SIGKILL)  # an old worker crashes mid-roll
    c.step()
    assert c.master.children.restarts[("app", old_apps[1].id)][0] == 1
    for child in c.spawner.apps:
        if child is not canary and child not in old_apps:
            child.started()  # the crash's replacement
    canary.started()
    c.step()
    c.when(lambda: any(a.signals for a in old_apps[:1]))
    c.spawner.exit(old_apps[0], 0)
    c.step()
    for _ in range(3):  # whatever the roll still forks boots too
        for child in c.spawner.apps:
            if child not in old_apps and not child.data_of("egg-ready"):
                child.started()
        c.step()
        for old in old_apps:
            if old.signals and old in c.spawner.apps:
                c.spawner.exit(old, 0)
        c.step()
    (done,) = [d for e, d in events if e == "done"]
    assert done["ok"], done
    serving = [h for h in c.master.children.pool() if h.state is ChildState.SERVING]
    assert len(serving) == 2 and len({h.id for h in serving}) == 2
    assert not {h.pid for h in serving} & {a.pid for a in old_apps}


def test_sighup_while_a_reload_runs_is_refused_and_stop_during_reload_stops_everything(
    make,
) -> None:
    c = make(workers=2).ready()
    events = reload(c)
    c.signal(signal.SIGHUP)  # logged and refused: the running roll goes on
    assert c.master.state_name == "reloading" and not [e for e, _ in events if e == "done"]
    c.signal(signal.SIGTERM)
    (done,) = [d for e, d in events if e == "done"]
    assert not done["ok"] and "interrupted" in done["error"]
    assert c.master.state_name == "stopping"
    for child in list(c.spawner.apps):
        assert SIGTERM in child.signals


# -- production: shutdown delay, readiness, systemd, SIGUSR1 (runtime/master/production.py)
def readiness(c: FakeCluster) -> tuple[bool, str]:
    p = c.master.production
    assert p.sup is not None
    return p.sup.snapshot(p.samples()).readiness()


def test_shutdown_delay_keeps_serving_not_ready_then_drains(make) -> None:
    c = make(shutdown_delay=2000).ready()
    assert readiness(c) == (True, "ready")
    c.signal(signal.SIGTERM)
    assert readiness(c) == (False, "draining")
    assert all(app.signals == [] for app in c.spawner.apps)  # still serving
    assert c.master.phase.value == "ready"
    c.advance(1.9)
    assert all(app.signals == [] for app in c.spawner.apps)
    c.advance(0.2)
    assert c.master.phase.value == "stopping"
    assert all(app.signals == [SIGTERM] for app in c.spawner.apps)


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_during_the_delay_drains_at_once(make, second) -> None:
    c = make(shutdown_delay=20000, grace_period=60).ready()
    c.signal(signal.SIGTERM)
    c.signal(second)
    assert c.master.phase.value == "stopping" and c.master.close_code == ExitCode.OK
    assert all(app.signals == [SIGTERM] for app in c.spawner.apps)  # drain, not SIGKILL


def test_no_delay_before_ready_or_on_ctrl_c(make) -> None:
    c = make(shutdown_delay=2000)
    c.signal(signal.SIGTERM)  # still starting: nothing to keep serving
    assert c.master.phase.value == "stopping"
    d = make(shutdown_delay=2000).ready()
    d.signal(signal.SIGINT)  # a person at a terminal, not a load balancer
    assert d.master.phase.value == "stopping"


def test_readiness_needs_the_agent_and_a_serving_worker(make) -> None:
    c = make(workers=1)
    assert readiness(c) == (False, "starting")
    c.ready()
    assert readiness(c) == (True, "ready")
    c.spawner.exit(c.spawner.apps[0], 1)
    c.step()
    assert readiness(c) == (False, "no app worker serving")
    c.spawner.apps[0].started()
    c.step()
    c.spawner.exit(c.spawner.agent, sig=SIGKILL)
    c.step()
    assert readiness(c) == (False, "agent down")
    sample = {s.id: s for s in c.master.production.samples() if s.role == "app"}[1]
    assert sample.restarts == {"exit code 1 (ERROR)": 1}


def test_systemd_hears_progress_ready_after_the_last_worker_and_watchdog(
    make, tmp_path, monkeypatch
) -> None:
    import socket as socket_module

    systemd = socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_DGRAM)
    systemd.bind(str(tmp_path / "notify"))
    systemd.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")

    def heard() -> list[str]:
        out = []
        while True:
            try:
                out.append(systemd.recv(4096).decode())
            except BlockingIOError:
                return out

    try:
        c = make(workers=2)
        assert "NOTIFY_SOCKET" not in os.environ  # the agent must not inherit it
        assert heard() == ["WATCHDOG=1"]
        c.spawner.agent.started(listen={})
        c.step()
        first, second = c.spawner.apps
        first.started()
        c.step()
        got = heard()
        assert not any("READY=1" in m for m in got)
        assert got[-1].endswith("STATUS=1/2 workers ready")
        second.started()
        c.step()
        assert heard()[-1].startswith("READY=1\nSTATUS=2 workers serving")
        c.advance(1.0)
        c.advance(1.0)
        assert heard() == ["WATCHDOG=1", "WATCHDOG=1"]
        c.signal(signal.SIGTERM)
        assert heard()[0] == "STOPPING=1\nSTATUS=draining"
    finally:
        systemd.close()


def test_sigusr1_is_forwarded_to_every_child_past_boot(make) -> None:
    c = make(workers=2)
    c.spawner.agent.started(listen={})
    c.step()
    first, second = c.spawner.apps
    first.started()
    c.step()
    c.signal(signal.SIGUSR1)
    assert c.spawner.agent.signals == [signal.SIGUSR1] and first.signals == [signal.SIGUSR1]
    assert second.signals == []  # still booting: its handler may not exist yet


def test_no_reload_or_scale_while_the_shutdown_delay_runs(make) -> None:
    c = make(shutdown_delay=2000).ready()
    c.signal(signal.SIGTERM)
    assert c.master.state_name == "draining"
    assert c.master.begin_reload() == "cannot reload while the cluster is draining"
