"""The control channel's requests, answered from the cluster state (docs/INTERNALS.md §4).

`open_control(...)` is the whole glue the master loop needs: it returns the bound
`ControlServer` (or None when the CLI asked for no control channel), whose handlers are
here: `status`, `scale`, `reload` and `upgrade`. Each handler only reads the `ClusterState` or calls
one of the `MasterOps`; the work (forking, draining, rolling) stays in the master.

A new control command is its `ControlAction` and payloads in runtime/contract/control.py
(the CLI reads the same), one handler here and its entry in `handlers`.
"""

from __future__ import annotations

import logging
import os
import selectors
from typing import Any

from runtime.contract.capacity import workers_problem
from runtime.contract.control import (
    BadRequest,
    ControlAction,
    ReloadAccepted,
    ReloadDone,
    ReloadProgress,
    Reply,
    ScaleReply,
    reload_request,
    scale_request,
)
from runtime.contract.exitcodes import ExitCode
from runtime.master.children.children import Children
from runtime.master.children.states import Phase
from runtime.master.control.connections import ControlServer, Handler, Request
from runtime.master.control.status_report import StatusReporter
from runtime.master.lifecycle.cluster_state import ClusterState
from runtime.master.lifecycle.ops import MasterOps, ReloadReport
from runtime.master.lifecycle.timers import Timers

log = logging.getLogger("eggscripts.master.control")


def open_control(
    state: ClusterState,
    ops: MasterOps,
    children: Children,
    selector: selectors.BaseSelector,
    timers: Timers,
) -> ControlServer | None:
    """Bind the control socket of `options.control_path` and register it in `selector`;
    raises StartupError with one line when that is not possible."""
    path = state.options.control_path
    if not path:
        return None
    server = ControlServer(path, selector, handlers(state, ops, children), log, timers)
    if state.options.control_fd is not None:  # handed down by an upgrading master
        server.adopt(state.options.control_fd)
    else:
        server.open()
    return server


def handlers(state: ClusterState, ops: MasterOps, children: Children) -> dict[str, Handler]:
    """One handler per `ControlAction`."""
    reporter = StatusReporter(children.clock, state.version)
    return {
        ControlAction.STATUS: lambda request: request.finish(reporter.build(state, children)),
        ControlAction.SCALE: lambda request: handle_scale(state, ops, request),
        ControlAction.RELOAD: lambda request: handle_reload(state, ops, reporter, request),
        ControlAction.UPGRADE: lambda request: handle_upgrade(ops, reporter, request),
    }


def handle_scale(state: ClusterState, ops: MasterOps, request: Request) -> None:
    """`{"workers": N}` or `{"delta": K}`: answered once the new target is set; the client
    watches `status` until the count is reached (scaling down drains first)."""
    try:
        asked = scale_request(request.data)
    except BadRequest as exc:
        request.fail(str(exc), ExitCode.USAGE)
        return
    previous = state.target_workers
    wanted = asked["workers"] if "workers" in asked else previous + asked["delta"]
    problem = workers_problem(wanted)  # the bound `start --workers` has
    if problem is not None:
        request.fail(problem, ExitCode.USAGE)
        return
    if state.phase is not Phase.READY:
        request.fail(f"the cluster is {state.phase}; scale it once it is ready")
        return
    ops.scale_to(wanted)
    log.info("scale requested by pid %s: %d -> %d app workers", request.peer_pid, previous, wanted)
    request.finish(ScaleReply(previous=previous, workers=wanted))


def handle_reload(
    state: ClusterState, ops: MasterOps, reporter: StatusReporter, request: Request
) -> None:
    """`{"timeout": ms or null, "wait": bool, "agent": bool}`. The first frame, `accepted`,
    carries this master's version so the CLI can say when a restart is needed for new master
    code; the roll (`ops.begin_reload`, runtime/master/lifecycle/rolling_reload.py) then streams
    `progress` frames and ends with `finish`/`fail`. Without `wait` the answer is sent at once;
    `"agent": false` keeps a running agent (only app files changed)."""
    try:
        asked = reload_request(request.data)
    except BadRequest as exc:
        request.fail(str(exc), ExitCode.USAGE)
        return
    accepted = ReloadAccepted(
        pid=os.getpid(), version=reporter.version, workers=state.target_workers
    )
    request.reply(Reply.ACCEPTED, accepted)

    def report(event: str, data: ReloadReport) -> None:
        if event == Reply.PROGRESS:
            phase = "workers" if "pid" in data else "agent"
            progress = ReloadProgress(phase=phase)
            request.reply(Reply.PROGRESS, {**progress, **data})
        elif data.get("ok"):
            request.finish(
                ReloadDone(agent=data.get("agent"), workers=data.get("pids", []),
                           replaced=data.get("replaced"), total=data.get("total"),
                           release_dir=data.get("release"))
            )  # fmt: skip
        else:
            counts = {"replaced": data.get("replaced"), "total": data.get("total")}
            request.fail(str(data.get("error")), int(data.get("exit", ExitCode.ERROR)), counts)

    error = ops.begin_reload(report, asked.get("timeout"), asked.get("agent", True))
    if error:
        request.fail(error)
    elif not asked.get("wait", True) and not request.done:
        request.finish(ReloadDone(waited=False))


def handle_upgrade(ops: MasterOps, reporter: StatusReporter, request: Request) -> None:
    """`reload --upgrade`: `accepted` with this master's pid and version once the new
    master is started (a refusal fails at once), `progress` frames while it boots, then
    `finish` with its pid and version, or `fail` with its one line
    (runtime/master/lifecycle/upgrade.py)."""

    def report(event: str, data: dict[str, Any]) -> None:
        if event == "progress":
            request.reply(Reply.PROGRESS, data)
        elif event == "done":
            request.finish(data)
        else:
            request.fail(str(data.get("error")), int(data.get("exit", ExitCode.ERROR)))

    error = ops.begin_upgrade(report)
    if error:
        request.fail(error)
    else:
        request.reply(Reply.ACCEPTED, {"pid": os.getpid(), "version": reporter.version})
