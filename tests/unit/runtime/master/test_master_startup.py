"""The master's start on the fake spawner (tests/master_fakes.py): each child's state table,
the start sequence, and the exit status of each way a start fails."""

from __future__ import annotations

import errno
import signal

import pytest

from runtime.contract.exitcodes import ExitCode
from runtime.contract.messages import Action
from runtime.master.children.states import (
    TRANSITIONS,
    ChildState,
    InvalidTransition,
    check_transition,
)
from tests.master_fakes import FakeCluster, make_fixture  # noqa: F401 (the `make` fixture)

SIGKILL, SIGTERM = signal.SIGKILL, signal.SIGTERM


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
    assert c.phase == "ready"
    assert c.spawner.agent.data_of(Action.EGG_PIDS)[:2] == [[first.pid], [first.pid, second.pid]]
    assert "egg-ready" in second.received() and "egg-ready" in c.spawner.agent.received()


def test_agent_startup_error_fails_with_4_and_stops_everything(make) -> None:
    c = make()
    c.spawner.agent.send(Action.STARTUP_ERROR, {"message": "config.py:1: SyntaxError"})
    c.step()
    assert c.state.close_code == ExitCode.APP_LOAD_ERROR
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
    assert c.state.close_code == ExitCode.WORKER_BOOT_ERROR
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
    assert c.state.close_code == ExitCode.WORKER_BOOT_ERROR
    c2 = make(startup_timeout=1000)
    c2.advance(1.1)
    assert c2.state.close_code == ExitCode.AGENT_START_ERROR


def test_failed_fork_at_start_fails_the_start(make) -> None:
    c = make(workers=2)
    c.spawner.fail_next = [BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")]
    c.spawner.agent.started(listen={})
    c.step()
    assert c.state.close_code == ExitCode.WORKER_BOOT_ERROR
