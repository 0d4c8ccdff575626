"""The control channel's requests, answered from the master's state (docs/INTERNALS.md §4).

`open_control(master)` is the whole glue the master loop needs: it returns the bound
`ControlServer` (or None when the CLI asked for no control channel), whose handlers are
here: `status`, `scale` and `reload`. Each handler only reads the master or calls one of
its methods; the work (forking, draining, rolling) stays in the master.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from runtime.contract.capacity import workers_problem
from runtime.master.control import ControlServer, Request
from runtime.master.status import StatusReporter, state_name

log = logging.getLogger("eggscripts.master.control")


def open_control(master: Any) -> ControlServer | None:
    """Bind the control socket of `master.options.control_path` and register it in
    `master.selector`; raises StartupError with one line when that is not possible."""
    path = master.options.control_path
    if not path:
        return None
    reporter = StatusReporter()
    handlers = {
        "status": lambda request: request.finish(reporter.build(master)),
        "scale": lambda request: handle_scale(master, request),
        "reload": lambda request: handle_reload(master, reporter, request),
    }
    server = ControlServer(path, master.selector, handlers, log)
    server.open()
    return server


def handle_scale(master: Any, request: Request) -> None:
    """`{"workers": N}` or `{"delta": K}`: answered once the new target is set; the client
    watches `status` until the count is reached (scaling down drains first)."""
    data = request.data
    previous = int(master.target_workers)
    workers, delta = data.get("workers"), data.get("delta")
    if isinstance(workers, int) and not isinstance(workers, bool) and delta is None:
        wanted = workers
    elif isinstance(delta, int) and not isinstance(delta, bool) and workers is None:
        wanted = previous + delta
    else:
        request.fail('scale needs {"workers": N} or {"delta": K} (integers)', exit=2)
        return
    problem = workers_problem(wanted)  # the bound `start --workers` has
    if problem is not None:
        request.fail(problem, 2)
        return
    state = state_name(master)
    if state != "ready":
        request.fail(f"the cluster is {state}; scale it once it is ready")
        return
    master.scale_to(wanted)
    log.info("scale requested by pid %s: %d -> %d app workers", request.peer_pid, previous, wanted)
    request.finish({"previous": previous, "workers": wanted})


def handle_reload(master: Any, reporter: StatusReporter, request: Request) -> None:
    """`{"timeout": ms or null, "wait": bool}`. The first frame, `accepted`, carries this
    master's version so the CLI can say when a restart is needed for new master code; the
    roll (`master.begin_reload`, runtime/master/reload.py) then streams `progress` frames
    and ends with `finish`/`fail`. Without `wait` the answer is sent at once."""
    timeout = request.data.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        request.fail("reload timeout must be a positive integer (ms)", exit=2)
        return
    request.reply(
        "accepted",
        {"pid": os.getpid(), "version": reporter.version, "workers": master.target_workers},
    )

    def report(event: str, data: dict[str, Any]) -> None:
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
            request.fail(str(data.get("error")), int(data.get("exit", 1)), counts)

    error = master.begin_reload(report, timeout)
    if error:
        request.fail(error)
    elif not request.data.get("wait", True) and not request.done:
        request.finish({"waited": False})
