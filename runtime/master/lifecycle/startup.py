"""The master's start sequence (egg-cluster's): bind, start the agent, wait for its
`agent-start`, fork N app workers, wait for every `app-start`, then `egg-ready` to every
process and to the launching command.

Anything failing before ready fails the whole start, with one line on stderr and the exit
status that says what failed (runtime/contract/exitcodes.py): 4 the app's code raised while loading
(import, config, plugin, router, a Boot hook; reported by the agent or a worker), 5 the
agent died, could not be spawned or did not start in time, 3 an app worker died, could not
be forked or did not boot in time, 1 anything else (port in use).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from runtime.contract.exitcodes import ExitCode
from runtime.contract.messages import Action
from runtime.contract.option_defs import DEFAULT_PORT
from runtime.contract.payloads import AgentStart, EggReady
from runtime.contract.titles import master_title
from runtime.master.children.children import Children
from runtime.master.children.handle import ChildHandle
from runtime.master.children.kinds import AGENT, APP
from runtime.master.children.states import Phase
from runtime.master.lifecycle.cluster_state import ClusterState
from runtime.master.lifecycle.ops import MasterOps
from runtime.master.lifecycle.timers import Timer, Timers
from runtime.master.production.listener import (
    activated_listener,
    bind_listener,
    handed_listener,
    listening_port,
)
from runtime.master.production.ready_channel import ParentChannel
from runtime.master.production.wiring import Production
from runtime.process.errors import StartupError, report
from runtime.process.proctitle import set_title


class Startup:
    def __init__(
        self,
        state: ClusterState,
        ops: MasterOps,
        children: Children,
        timers: Timers,
        production: Production,
        parent: ParentChannel,
    ) -> None:
        self.state = state
        self.ops = ops
        self.children = children
        self.timers = timers
        self.production = production
        self.parent = parent
        self.timer: Timer | None = None
        self.on_ready: Callable[[], None] = lambda: None  # the master's watchdogs start
        self.setup_logs: Callable[[], None] = lambda: None  # the master's log files

    def arm(self) -> None:
        """The startup timeout, from the very first step."""
        self.set_title()
        self.timer = self.timers.call_later(
            self.state.options.startup_timeout / 1000, self.on_timeout
        )

    def listen_early(self) -> bool:
        """A socket passed by systemd, else an explicit port, is opened before the agent;
        without either, the master binds what the agent reports (`agent_started`)."""
        s = self.state
        if not self.adopt_activated():
            return False
        if s.listener is None and s.options.uds:  # --uds: before any port
            return self.bind(s.host, 0, s.options.uds)
        if s.listener is None and s.port is not None:
            return self.bind(s.host, s.port)
        return True

    def adopt_activated(self) -> bool:
        """systemd socket activation, or an upgrade: serve on the passed socket, no bind."""
        s = self.state
        handed = (
            s.options.listen_fd
        )  # from an upgrading master (runtime/master/lifecycle/upgrade.py)
        try:
            sock = activated_listener() if handed is None else handed_listener(handed)
        except StartupError as exc:
            self.fail(str(exc), ExitCode.ERROR)
            return False
        if sock is not None:
            s.listener = sock
            if sock.family != socket.AF_UNIX:
                s.host = str(sock.getsockname()[0])
            s.port = listening_port(sock)
            self.set_title()
        return True

    def bind(self, host: str, port: int, path: str | None = None, mode: int | None = None) -> bool:
        """TCP, or a Unix socket at `path` (the app config's `cluster.listen.path`)."""
        s = self.state
        try:
            s.listener = bind_listener(host, port, path, mode)
        except StartupError as exc:
            self.fail(str(exc), ExitCode.ERROR)
            return False
        s.host, s.port = host, listening_port(s.listener)
        self.set_title()
        return True

    def set_title(self) -> None:
        o = self.state.options
        set_title(master_title(o.title, self.state.port or 0, o.base_dir))

    # -- progress ------------------------------------------------------------------------
    def agent_started(self, handle: ChildHandle, data: AgentStart) -> None:
        s = self.state
        from runtime.process.log_setup import adopt_agent_dirs

        try:
            s.options = adopt_agent_dirs(s.options, data)  # the app config's logger.dir, rundir
        except StartupError as exc:  # no log files at all: fail, as a daemon start does
            self.fail(str(exc), ExitCode.ERROR)
            if not s.phase.running:
                return
        s.log.info("%s started (%dms)", handle.label, self.elapsed_ms(handle.spawned_at))
        self.production.agent_started()
        self.parent.notify(Action.AGENT_START, {"pid": handle.pid})
        if s.phase is Phase.STARTING_AGENT:
            s.move_to(Phase.STARTING_APPS)
            self.fork_first_workers(data)
        elif s.phase.running:
            self.children.send(self.children.pool(), Action.AGENT_START, {"pid": handle.pid})
            self.children.send([handle], Action.EGG_READY, self.ready_data())
            self.send_pids()

    def fork_first_workers(self, data: AgentStart) -> None:
        """Bind what the agent read from the app config (unless bound already), then fork."""
        s = self.state
        listen = data.get("listen") if isinstance(data, dict) else None
        listen = listen if isinstance(listen, dict) else {}
        s.https = s.https or bool(listen.get("https"))
        if s.listener is None:
            port = int(listen.get("port") or DEFAULT_PORT)
            host = s.options.hostname or listen.get("hostname") or s.host
            if not self.bind(host, port, listen.get("path"), listen.get("mode")):
                return
        for _ in range(s.target_workers):
            if not self.ops.fork_app():
                self.fail("could not fork an app worker", APP.boot_failure_exit)
                return

    def app_started(self, handle: ChildHandle) -> None:
        s = self.state
        s.log.info("%s started (%dms)", handle.label, self.elapsed_ms(handle.spawned_at))
        serving = len(self.children.serving())
        total = s.target_workers
        self.parent.notify(Action.APP_START, {"pid": handle.pid, "ready": serving, "total": total})
        self.production.worker_started()
        if s.phase is Phase.STARTING_APPS:
            # egg-cluster: the agent learns the workers at every app-start, before ready.
            agent = [self.children.agent] if self.children.agent else []
            self.children.send(agent, Action.EGG_PIDS, [h.pid for h in self.children.serving()])
            if serving >= total:
                self.ready()
        elif s.phase.running:
            self.children.send([handle], Action.EGG_READY, self.ready_data())
            self.send_pids()

    def ready(self) -> None:
        s = self.state
        s.move_to(Phase.READY)
        self.cancel()
        ms = self.elapsed_ms(s.started_at)
        s.log.info("%s started on %s (%dms)", s.options.title, s.url, ms)
        self.children.send(self.children.members(), Action.EGG_READY, self.ready_data())
        self.send_pids()
        self.parent.notify(Action.EGG_READY, self.ready_data())
        self.parent.close()
        self.production.ready()  # READY=1: every app worker accepts
        self.on_ready()

    def elapsed_ms(self, since: float) -> float:
        return (self.timers.clock() - since) * 1000

    def ready_data(self) -> EggReady:
        children = self.children
        return EggReady(
            pid=os.getpid(),
            version=self.state.version,
            title=self.state.options.title,
            url=self.state.url,
            port=self.state.port,
            workers=[h.pid for h in children.pool()],
            agent=children.agent.pid if children.agent else None,
        )

    def send_pids(self) -> None:
        children = self.children
        children.send(children.members(), Action.EGG_PIDS, [h.pid for h in children.pool()])

    # -- failure -------------------------------------------------------------------------
    def on_timeout(self) -> None:
        ms = self.state.options.startup_timeout
        agent = self.children.agent
        agent_up = agent is not None and agent.started_at is not None
        code = APP.boot_failure_exit if agent_up else AGENT.boot_failure_exit
        self.fail(f"cluster did not become ready within {ms} ms (startup timeout)", code)

    def fail(self, text: str, code: int) -> None:
        """One line on stderr and to the launching command, then stop what was started."""
        s = self.state
        if not s.phase.starting:
            return
        from runtime.process.log_setup import NO_CONSOLE

        report(text)
        self.setup_logs()
        s.start_failed = True
        s.log.error("%s", text, extra=NO_CONSOLE)
        self.parent.notify(Action.STARTUP_ERROR, {"message": text, "code": int(code)})
        self.parent.close()
        self.ops.begin_close(code, "start failed")

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
