"""The master: one single-threaded loop that keeps one agent and N app workers alive.

Like gunicorn's arbiter, the loop blocks in a selector over the signal self-pipe and every
child's channel, with the next deadline as timeout; each pass then dispatches queued
signals, reaps exited children and runs due timers. Only the master forks or kills, always
through the injected `Spawner` (tests/master_fakes.py drives this class without a fork).
No app code ever runs here: the agent is a new interpreter, app workers load the app after
fork.

Cluster phases (egg-cluster's): STARTING_AGENT -> STARTING_APPS -> READY -> CLOSING; each
child has its own `ChildState` (runtime/master/states.py). A child failing before READY
fails the start with exit 3, 4 or 5 (runtime/exitcodes.py); after READY workers are
replaced and the agent restarted (runtime/master/replacement.py).
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from runtime.exitcodes import ExitCode
from runtime.ipc.leader_endpoint import LeaderEndpoint
from runtime.master.child_messages import ChildMessages
from runtime.master.children import Children
from runtime.master.handle import ChildHandle
from runtime.master.production import Production
from runtime.master.ready_channel import ParentChannel
from runtime.master.reload import Report, RollingReload
from runtime.master.replacement import Replacement
from runtime.master.shutdown import GracefulStop
from runtime.master.signals import SignalQueue
from runtime.master.spawner import ProcessSpawner, Spawner
from runtime.master.startup import Startup
from runtime.master.states import ChildState, Phase
from runtime.master.timers import Timers
from runtime.master.watchdogs import Watchdogs
from runtime.options import ClusterOptions

S = ChildState
# A loop pass never waits longer than LOOP_CAP; a gap above PAUSE_GAP means the master was
# stopped (SIGSTOP, a frozen cgroup) and heard nothing meanwhile.
LOOP_CAP = 1.0
PAUSE_GAP = 2.0 * LOOP_CAP


class Master:
    HANDLERS = {  # signal -> method; handlers only run from the loop, never in the handler
        signal.SIGTERM: "handle_term",
        signal.SIGINT: "handle_int",
        signal.SIGQUIT: "handle_term",
        signal.SIGCHLD: "handle_chld",
        signal.SIGHUP: "handle_hup",
        signal.SIGTTIN: "handle_ttin",
        signal.SIGTTOU: "handle_ttou",
        signal.SIGUSR1: "handle_usr1",
    }
    SIGNALS = tuple(HANDLERS)

    def __init__(
        self,
        options: ClusterOptions,
        spawner: Spawner | None = None,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
    ) -> None:
        self.options = options
        self.name = options.name or ""
        self.phase = Phase.STARTING_AGENT
        self.spawner: Spawner = spawner or ProcessSpawner()
        self.clock = clock
        self.timers = Timers(clock)
        self.listener: socket.socket | None = None
        self.port: int | None = options.port
        self.https = bool(options.https)  # or the app config's cluster.https (agent-start)
        self.host = options.bind_host
        self.target_workers = options.workers
        self.parent = ParentChannel(options.ready_fd)
        self.exit_code: int | None = None
        self.close_code: int = ExitCode.OK
        self.interrupts = 0
        self.started_at = clock()
        self.last_pass = self.started_at
        self.endpoint: LeaderEndpoint | None = None
        self.watchdogs: Watchdogs | None = None
        self.reload: RollingReload | None = None
        # The real BASE_DIR the running code came from; a reload moves it to the new one.
        self.release_dir = os.path.realpath(options.base_dir)
        self.control: Any = None  # runtime/master/control.py ControlServer, when asked for
        self.handlers = {sig: getattr(self, name) for sig, name in self.HANDLERS.items()}
        self.log = log or logging.getLogger("eggscripts.master")
        self.startup = Startup(self)
        self.replacement = Replacement(self)
        self.production = Production(self)  # systemd, health port, shutdown delay, orphans
        self.messages = ChildMessages(self)
        self.on_message = self.messages.on_message

    @property
    def state_name(self) -> str:
        """starting / ready / reloading / draining / stopping, for status and health."""
        return self.production.state_name()

    @property
    def url(self) -> str:
        return self.startup.url

    # -- main loop -----------------------------------------------------------------------
    def open(self, signals: Any = None) -> None:
        """Everything the loop selects on; `signals` is injected by tests."""
        self.selector = selectors.DefaultSelector()
        self.children = Children(self.selector, self.spawner, self.clock, self.SIGNALS)
        timeouts = self.options.kill_app_timeout / 1000, self.options.kill_agent_timeout / 1000
        self.stopper = GracefulStop(self.children, self.timers, *timeouts, self.log)
        self.signals = signals if signals is not None else SignalQueue(self.SIGNALS)
        self.selector.register(self.signals, selectors.EVENT_READ)

    def run(self) -> int:
        os.environ["EGG_SERVER_ENV"] = self.options.env
        self.open()
        try:
            self.startup.begin()
            while self.exit_code is None:
                self.run_once()
        except BaseException as exc:  # a bug: children must not outlive the master
            self.log.critical("master crashed: %r", exc, exc_info=exc)
            self.exit_code = ExitCode.ERROR
        finally:
            self.cleanup()
        return self.exit_code

    def run_once(self, timeout: float | None = None) -> None:
        wait = self.timers.timeout(LOOP_CAP) if timeout is None else timeout
        events = self.selector.select(wait)
        now = self.clock()
        if now - self.last_pass > PAUSE_GAP + wait and self.watchdogs is not None:
            self.watchdogs.stale.master_resumed(now)
        for key, mask in events:
            if isinstance(key.data, ChildHandle):
                self.children.on_event(key.data, mask, self.on_message)
            elif key.data is not None:  # None: the signal pipe, drained below
                key.data.on_event(mask)
        self.dispatch_signals()
        for handle, status in self.children.reap(self.on_message):
            self.replacement.on_exit(handle, status)
        self.timers.run_due()
        self.children.flush()
        self.last_pass = self.clock()

    def dispatch_signals(self) -> None:
        for sig in self.signals.drain():
            self.handlers[sig]()

    # -- signals -------------------------------------------------------------------------
    def handle_term(self) -> None:
        self.production.stop_requested()  # after --shutdown-delay: begin_close

    def handle_int(self) -> None:
        self.interrupts += 1
        if self.interrupts > 1:
            self.force_close()
        else:
            self.begin_close(ExitCode.OK, "interrupted")

    def handle_usr1(self) -> None:
        self.production.reopen_logs()

    def handle_chld(self) -> None:
        """Reaping happens on every pass; the signal only wakes the loop up."""

    def handle_hup(self) -> None:
        """SIGHUP: the same rolling reload as `eggscripts reload` (its outcome is logged)."""
        error = self.begin_reload()
        if error:
            self.log.warning("SIGHUP: %s", error)

    def begin_reload(
        self, report: Report | None = None, timeout_ms: int | None = None
    ) -> str | None:
        """Start a rolling reload (runtime/master/reload.py); the reason it cannot start,
        else None. `report` receives its progress and outcome."""
        if self.phase is not Phase.READY or self.production.delay is not None:
            return f"cannot reload while the cluster is {self.state_name}"
        if self.reload is not None:
            return "a reload is already in progress"
        self.reload = RollingReload(self, report, timeout_ms)
        self.reload.begin()
        return None

    def reload_ended(self, roll: RollingReload) -> None:
        if self.reload is roll:
            self.reload = None

    def handle_ttin(self) -> None:
        if self.phase is Phase.READY:
            self.scale_to(self.target_workers + 1)

    def handle_ttou(self) -> None:
        if self.phase is Phase.READY:
            self.scale_to(self.target_workers - 1)

    def scale_to(self, count: int) -> None:
        """Fork or drain app workers until `count` are in the pool (at least one)."""
        self.replacement.scale_to(count)

    # -- children ------------------------------------------------------------------------
    def spawn_agent(self) -> bool:
        leader = self.endpoint.sock if self.endpoint else None
        try:
            handle = self.children.spawn_agent(self.options, leader)
        except OSError as exc:
            self.log.error("could not start the agent: %s", exc)
            return False
        if self.phase is Phase.READY and self.watchdogs is not None:
            self.watchdogs.agent_restarted(handle)
        return True

    def fork_app(self, worker_id: int | None = None) -> bool:
        """One app worker (with `worker_id`: the slot it takes over, in a reload)."""
        if self.phase is Phase.CLOSING or self.listener is None:
            return True
        try:
            self.children.fork_app(
                self.options, self.listener, self.name, self.private_fds, worker_id
            )
        except OSError as exc:
            self.log.error("could not fork an app worker: %s", exc)
            return False
        return True

    def private_fds(self) -> list[int]:
        """Master-only fds a forked worker must close first (the registry adds the
        channels): the ready fd kept open by a worker would hide the master's death from
        `start --daemon`, the endpoint would keep a dead agent's address alive."""
        fds = list(getattr(self.signals, "fds", ()))
        if self.endpoint is not None:
            fds.append(self.endpoint.sock.fileno())
        if self.parent.fd is not None:
            fds.append(self.parent.fd)
        if self.control is not None:
            fds.extend(self.control.fds())
        return fds + self.production.fds()

    # -- closing -------------------------------------------------------------------------
    def begin_close(self, code: int, reason: str) -> None:
        if self.phase is Phase.CLOSING:
            return
        self.phase = Phase.CLOSING
        self.close_code = code
        self.startup.cancel()
        self.replacement.cancel()
        if self.reload is not None:
            self.reload.abort(reason)
        self.production.closing()
        self.log.info("%s: stopping app workers", reason)
        if self.listener is not None:
            self.listener.close()  # the workers' copies keep serving until they drain
        self.stopper.begin()
        self.check_closed()

    def check_closed(self) -> None:
        self.stopper.advance()
        if self.stopper.done:
            self.exit_code = self.close_code

    def force_close(self) -> None:
        self.log.warning("second interrupt: killing every child")
        self.close_code = ExitCode.ERROR
        self.phase = Phase.CLOSING
        self.stopper.kill_all()
        self.check_closed()

    def cleanup(self) -> None:
        for handle in self.children.all():  # only on an unexpected error
            handle.signal(signal.SIGKILL)
        if self.listener is not None:
            self.listener.close()
        self.parent.close()
        if self.endpoint is not None:
            self.endpoint.close()
        if self.control is not None:
            self.control.close()
        self.production.close()
        self.signals.close()
        self.selector.close()
        if self.exit_code:
            self.log.error("exit with code %d", self.exit_code)
        else:
            self.log.info("exit with code 0")
