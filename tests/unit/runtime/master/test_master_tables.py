"""The master's tables and its control commands, on the fake spawner (tests/master_fakes.py):
the cluster's phase table, the child-kind table, and `status` / `scale` / `reload` answered
from the `ClusterState` through `MasterOps`."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from runtime.contract.exitcodes import ExitCode
from runtime.contract.messages import Action, Role
from runtime.master.children.kinds import AGENT, APP, KINDS
from runtime.master.children.states import (
    PHASE_TRANSITIONS,
    InvalidTransition,
    Phase,
    check_phase_transition,
)
from runtime.master.control.commands import handle_reload, handle_scale
from runtime.master.control.status_report import StatusReporter
from tests.master_fakes import FakeCluster, make_fixture  # noqa: F401 (the `make` fixture)

P = Phase


# -- the phase table -------------------------------------------------------------------------
def test_every_phase_has_its_moves_and_stopped_is_final() -> None:
    assert set(PHASE_TRANSITIONS) == set(Phase)
    assert PHASE_TRANSITIONS[P.STOPPED] == frozenset()
    assert all(
        P.STOPPING in PHASE_TRANSITIONS[p] for p in Phase if p not in (P.STOPPING, P.STOPPED)
    )
    for bad in [(P.READY, P.STARTING_APPS), (P.STOPPING, P.READY), (P.DRAINING, P.READY)]:
        with pytest.raises(InvalidTransition):
            check_phase_transition(*bad)


def test_what_status_shows_of_each_phase() -> None:
    shown = {p: str(p) for p in Phase}
    assert shown[P.STARTING_AGENT] == shown[P.STARTING_APPS] == "starting"
    assert [shown[p] for p in (P.READY, P.RELOADING, P.DRAINING, P.STOPPING)] == [
        "ready", "reloading", "draining", "stopping"
    ]  # fmt: skip


def watch_phases(c: FakeCluster) -> list[Phase]:
    seen = [c.state.phase]
    move = c.state.move_to

    def recording(phase: Phase) -> None:
        move(phase)
        seen.append(phase)

    c.state.move_to = recording  # type: ignore[method-assign]
    return seen


def test_a_cluster_walks_the_table_start_reload_delay_stop(make: Any) -> None:
    c = make(workers=1, shutdown_delay=1000)
    seen = watch_phases(c)
    c.ready()
    assert c.master.begin_reload() is None
    c.step()
    c.swap_agent()
    c.swap_one_worker(c.spawner.apps[0])
    c.step()
    c.signal(signal.SIGTERM)
    c.advance(1.1)
    for child in list(c.spawner.apps):
        c.spawner.exit(child, 0)
    c.step()
    c.spawner.exit(c.spawner.agent, 0)
    c.step()
    assert seen == [
        P.STARTING_AGENT, P.STARTING_APPS, P.READY, P.RELOADING, P.READY, P.DRAINING,
        P.STOPPING, P.STOPPED,
    ]  # fmt: skip
    assert c.master.exit_code == ExitCode.OK


# -- the child-kind table --------------------------------------------------------------------
def test_the_kind_table_covers_every_child_role_with_its_own_values() -> None:
    assert set(KINDS) == {Role.AGENT, Role.APP}
    assert KINDS[Role.AGENT] is AGENT and KINDS[Role.APP] is APP
    assert (AGENT.start_action, APP.start_action) == (Action.AGENT_START, Action.APP_START)
    assert AGENT.boot_failure_exit == ExitCode.AGENT_START_ERROR
    assert APP.boot_failure_exit == ExitCode.WORKER_BOOT_ERROR
    assert APP.stop_stage < AGENT.stop_stage  # app workers drain before the agent stops
    assert APP.pooled and not AGENT.pooled
    assert AGENT.describe(1) == "agent" and APP.describe(2) == "app worker #2"


def test_handles_take_their_label_and_announcement_from_their_kind(make: Any) -> None:
    c = make(workers=1)
    agent = c.master.children.agent
    assert agent is not None and agent.label == f"agent_worker#1:{agent.pid}"
    # Not the agent's announcement: ignored.
    c.spawner.agent.send(Action.APP_START, {"pid": agent.pid, "id": 1})
    c.step()
    assert c.phase == "starting" and c.spawner.apps == []
    c.ready()
    (app,) = c.master.children.apps()
    assert app.label == f"app_worker#1:{app.pid}" and app.what == f"app worker #1 (pid {app.pid})"


# -- control commands --------------------------------------------------------------------------
class FakeRequest:
    """What a control handler sees of one client request."""

    peer_pid = 4242

    def __init__(self, **data: Any) -> None:
        self.data = data
        self.replies: list[tuple[str, Any]] = []
        self.done: tuple[str, Any, int] | None = None

    def reply(self, action: str, data: Any = None) -> None:
        self.replies.append((action, data))

    def finish(self, data: Any = None, exit: int = 0) -> None:
        self.done = ("done", data, exit)

    def fail(self, message: str, exit: int = 1, data: dict[str, Any] | None = None) -> None:
        self.done = ("error", message, int(exit))


def test_scale_sets_the_target_and_the_pool_converges(make: Any) -> None:
    c = make(workers=2).ready()
    request = FakeRequest(workers=3)
    handle_scale(c.state, c.master, request)  # type: ignore[arg-type]
    assert request.done == ("done", {"previous": 2, "workers": 3}, 0)
    c.step()
    assert len(c.spawner.apps) == 3
    request = FakeRequest(delta=-2)
    handle_scale(c.state, c.master, request)  # type: ignore[arg-type]
    c.step()
    assert c.state.target_workers == 1 and len(c.master.children.pool()) == 1


@pytest.mark.parametrize(
    ("data", "exit"), [({"workers": 0}, 2), ({"delta": "x"}, 2), ({"workers": 2, "delta": 1}, 2)]
)
def test_scale_refuses_bad_counts_with_a_usage_error(make: Any, data: Any, exit: int) -> None:
    c = make(workers=1).ready()
    request = FakeRequest(**data)
    handle_scale(c.state, c.master, request)  # type: ignore[arg-type]
    assert request.done is not None and request.done[0] == "error" and request.done[2] == exit
    assert c.state.target_workers == 1


def test_scale_is_refused_unless_ready(make: Any) -> None:
    c = make(workers=1)
    request = FakeRequest(workers=2)
    handle_scale(c.state, c.master, request)  # type: ignore[arg-type]
    assert request.done == ("error", "the cluster is starting; scale it once it is ready", 1)
    c.ready()
    c.master.begin_reload()
    request = FakeRequest(workers=2)
    handle_scale(c.state, c.master, request)  # type: ignore[arg-type]
    assert request.done == ("error", "the cluster is reloading; scale it once it is ready", 1)


def test_reload_command_streams_progress_then_done(make: Any) -> None:
    c = make(workers=1).ready()
    request = FakeRequest(wait=True)
    handle_reload(c.state, c.master, StatusReporter(c.clock), request)  # type: ignore[arg-type]
    assert request.replies[0][0] == "accepted" and request.done is None
    c.step()
    c.swap_agent()
    c.swap_one_worker(c.spawner.apps[0])
    assert [a for a, _ in request.replies] == ["accepted", "progress", "progress"]
    assert request.done is not None and request.done[0] == "done"
    assert request.done[1]["replaced"] == 1 and request.done[1]["workers"] == [
        c.spawner.apps[0].pid
    ]


def test_reload_command_refused_while_draining(make: Any) -> None:
    c = make(workers=1, shutdown_delay=5000).ready()
    c.signal(signal.SIGTERM)
    request = FakeRequest()
    handle_reload(c.state, c.master, StatusReporter(c.clock), request)  # type: ignore[arg-type]
    assert request.done == ("error", "cannot reload while the cluster is draining", 1)


def test_status_reads_the_phase_and_every_child(make: Any) -> None:
    c = make(workers=2).ready()
    status = StatusReporter(c.clock).build(c.state, c.master.children)
    assert status["state"] == "ready" and status["workers"] == 2
    rows = [(p["role"], p["id"], p["state"]) for p in status["processes"]]
    assert rows == [
        ("master", None, "ready"), ("agent", 1, "serving"), ("app", 1, "serving"),
        ("app", 2, "serving"),
    ]  # fmt: skip
    c.master.begin_reload()
    assert StatusReporter(c.clock).build(c.state, c.master.children)["state"] == "reloading"
