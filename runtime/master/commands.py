"""The control channel's requests, answered from the cluster state (docs/INTERNALS.md §4).

`open_control(...)` is the whole glue the master loop needs: it returns the bound
`ControlServer` (or None when the CLI asked for no control channel), whose handlers are
here: `status`, `scale`, `reload` and `upgrade`. Each handler only reads the `ClusterState` or calls
one of the `MasterOps`; the work (forking, draining, rolling) stays in the master.

A new control command is one handler here plus its entry in `handlers` (and the CLI's
client side).
"""

from __future__ import annotations

import logging
import os
import selectors
from typing import Any

from runtime.contract.capacity import workers_problem
from runtime.contract.exitcodes import ExitCode
from runtime.master.children import Children
from runtime.master.cluster_state import ClusterState
from runtime.master.control import ControlServer, Request
from runtime.master.ops import MasterOps, ReloadReport
from runtime.master.states import Phase
from runtime.master.status import StatusReporter
from runtime.master.timers import Timers

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
    reporter = StatusReporter(children.clock, state.version)
    handlers = {
        "status": lambda request: request.finish(reporter.build(state, children)),
        "scale": lambda request: handle_scale(state, ops, request),
        "reload": lambda request: handle_reload(state, ops, reporter, request),
    }
    handlers["upgrade"] = lambda request: handle_upgrade(ops, reporter, request)
    server = ControlServer(path, selector, handlers, log, timers)
    if state.options.control_fd is not None:  # handed down by an upgrading master
        server.adopt(state.options.control_fd)
    else:
        server.open()
    return server


def handle_scale(state: ClusterState, ops: MasterOps, request: Request) -> None:
    """`{"workers": N}` or `{"delta": K}`: answered once the new target is set; the client
    watches `status` until the count is reached (scaling down drains first)."""
    data = request.data
    previous = state.target_workers
    workers, delta = data.get("workers"), data.get("delta")
    if isinstance(workers, int) and not isinstance(workers, bool) and delta is None:
        wanted = workers
    elif isinstance(delta, int) and not isinstance(delta, bool) and workers is None:
        wanted = previous + delta
    else:
        request.fail('scale needs {"workers": N} or {"delta": K} (integers)', ExitCode.USAGE)
        return
    problem = workers_problem(wanted)  # the bound `start --workers` has
    if problem is not None:
        request.fail(problem, ExitCode.USAGE)
        return
    if state.phase is not Phase.READY:
        request.fail(f"the cluster is {state.phase}; scale it once it is ready")
        return
    ops.scale_to(wanted)
    log.info("scale requested by pid %s: %d -> %d app workers", request.peer_pid, previous, wanted)
    request.finish({"previous": previous, "workers": wanted})


def handle_reload(
    state: ClusterState, ops: MasterOps, reporter: StatusReporter, request: Request
) -> None:
    """`{"timeout": ms or null, "wait": bool, "agent": bool}`. The first frame,
    `accepted`, carries this master's version so the CLI can say when a restart is needed
    for new master code; the roll (`ops.begin_reload`, runtime/master/reload.py) then
    streams `progress` frames and ends with `finish`/`fail`. Without `wait` the answer is
    sent at once; `"agent": false` keeps a running agent (only app files changed)."""
    timeout = request.data.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        request.fail("reload timeout must be a positive integer (ms)", ExitCode.USAGE)
        return
    agent = request.data.get("agent", True)
    if not isinstance(agent, bool):
        request.fail("reload agent must be true or false", ExitCode.USAGE)
        return
    request.reply(
        "accepted",
        {"pid": os.getpid(), "version": reporter.version, "workers": state.target_workers},
    )

    def report(event: str, data: ReloadReport) -> None:
        if event == "progress":
            phase = "workers" if "pid" in data else "agent"
            request.reply("progress", {"phase": phase, **data})
        elif data.get("ok"):
            request.finish(
                {"agent": data.get("agent"), "workers": data.get("pids", []),
                 "replaced": data.get("replaced"), "total": data.get("total"),
                 "release_dir": data.get("release")}
            )  # fmt: skip
        else:
            counts = {"replaced": data.get("replaced"), "total": data.get("total")}
            request.fail(str(data.get("error")), int(data.get("exit", ExitCode.ERROR)), counts)

    error = ops.begin_reload(report, timeout, agent)
    if error:
        request.fail(error)
    elif not request.data.get("wait", True) and not request.done:
        request.finish({"waited": False})


def handle_upgrade(ops: MasterOps, reporter: StatusReporter, request: Request) -> None:
    """`reload --upgrade`: `accepted` with this master's pid and version once the new
    master is started (a refusal fails at once), `progress` frames while it boots, then
    `finish` with its pid and version, or `fail` with its one line
    (runtime/master/upgrade.py)."""

    def report(event: str, data: dict[str, Any]) -> None:
        if event == "progress":
            request.reply("progress", data)
        elif event == "done":
            request.finish(data)
        else:
            request.fail(str(data.get("error")), int(data.get("exit", ExitCode.ERROR)))

    error = ops.begin_upgrade(report)
    if error:
        request.fail(error)
    else:
        request.reply("accepted", {"pid": os.getpid(), "version": reporter.version})
