"""The rolling reload on the fake spawner (tests/master_fakes.py): agent first, one worker
at a time, the canary, a crash mid-roll, stop and SIGHUP during a reload."""

from __future__ import annotations

import signal

from runtime.contract.messages import Action
from runtime.master.children.states import ChildState
from tests.master_fakes import FakeCluster, make_fixture  # noqa: F401 (the `make` fixture)

SIGKILL, SIGTERM = signal.SIGKILL, signal.SIGTERM


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
    assert c.phase == "reloading"
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
    assert len(c.spawner.apps) == 2 and c.phase == "ready"


def test_reload_without_the_agent_keeps_it_and_rolls_the_workers(make) -> None:
    """`agent=False` (`eggscripts dev` after an app-only change): the agent is not
    touched and the first new worker is forked at once."""
    c = make(workers=2).ready()
    agent, old_apps = c.spawner.agent, list(c.spawner.apps)
    events: list[tuple[str, dict]] = []
    assert c.master.begin_reload(lambda e, d: events.append((e, d)), agent=False) is None
    c.step()
    assert len(c.master.children.pool()) == 3  # the first new worker, no agent step
    for old in old_apps:
        c.spawner.apps[-1].started()
        c.step()
        assert old.signals == [SIGTERM]
        c.spawner.exit(old, 0)
        c.step()
    (done,) = [d for e, d in events if e == "done"]
    assert done["ok"] and done["replaced"] == 2 and done["agent"] == agent.pid
    assert c.spawner.agent is agent and agent.signals == []
    assert [e for e, d in events if e == "progress" and "agent" in d] == []


def test_reload_without_the_agent_replaces_an_agent_that_is_not_serving(make) -> None:
    c = make(workers=1).ready()
    agent = c.spawner.agent
    c.master.children.agent.change_state(ChildState.STOPPING)
    assert c.master.begin_reload(agent=False) is None
    c.step()
    assert len(c.spawner.apps) == 1  # waits for a new agent first
    c.spawner.exit(agent, 0)
    c.step()
    assert c.spawner.agent is not agent


def test_reload_canary_failure_touches_no_old_worker(make) -> None:
    c = make(workers=2).ready()
    old_apps = list(c.spawner.apps)
    events = reload(c)
    c.swap_agent()
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
    c.swap_agent()
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
    assert c.phase == "reloading" and not [e for e, _ in events if e == "done"]
    c.signal(signal.SIGTERM)
    (done,) = [d for e, d in events if e == "done"]
    assert not done["ok"] and "interrupted" in done["error"]
    assert c.phase == "stopping"
    for child in list(c.spawner.apps):
        assert SIGTERM in child.signals
