"""The master: one single-threaded loop that keeps one agent and N app workers alive.

Like gunicorn's arbiter, the loop blocks in a selector over the signal self-pipe and every
child's channel, with the next deadline as timeout; each pass then dispatches queued
signals, reaps exited children, runs due timers and brings the pool to what is wanted
(`Pool.maintain`, runtime/master/lifecycle/pool.py). Only the master forks or kills, always through
the injected `Spawner` (tests/master_fakes.py drives this class without a fork). No app code
ever runs here: the agent and the app workers load the app after fork.

The master owns the `ClusterState` (runtime/master/lifecycle/cluster_state.py) and lends it,
with the narrow `MasterOps` it implements (runtime/master/lifecycle/ops.py), to its
collaborators: none of them receives the master. The cluster's phases are `states.Phase`; each
child has its own `ChildState`.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import time
from collections.abc import Callable
from typing import Protocol

from runtime.contract.exitcodes import ExitCode
from runtime.ipc.leader_endpoint import LeaderEndpoint
from runtime.master.children.child_messages import ChildMessages
from runtime.master.children.children import Children
from runtime.master.children.handle import ChildHandle
from runtime.master.children.spawner import ProcessSpawner, Spawner
from runtime.master.children.states import Phase
from runtime.master.control.commands import open_control
from runtime.master.control.connections import ControlServer
from runtime.master.control.status_report import distribution_version
from runtime.master.lifecycle.cluster_state import ClusterState
from runtime.master.lifecycle.graceful_stop import GracefulStop
from runtime.master.lifecycle.ops import Report
from runtime.master.lifecycle.pool import Pool
from runtime.master.lifecycle.rolling_reload import RollingReload
from runtime.master.lifecycle.signals import SignalQueue
from runtime.master.lifecycle.startup import Startup
from runtime.master.lifecycle.successor import Successor
from runtime.master.lifecycle.timers import Timers
from runtime.master.lifecycle.upgrade import Upgrade, UpgradeReport
from runtime.master.lifecycle.watchdogs import Watchdogs
from runtime.master.master_log import no_console, open_master_log
from runtime.master.production.ready_channel import ParentChannel
from runtime.master.production.wiring import Production
from runtime.process.cluster_options import ClusterOptions
from runtime.process.errors import StartupError

# A loop pass never waits longer than LOOP_CAP; a gap above PAUSE_GAP means the master was
# stopped (SIGSTOP, a frozen cgroup) and heard nothing meanwhile.
LOOP_CAP = 1.0
PAUSE_GAP = 2.0 * LOOP_CAP


class SignalSource(Protocol):
    """What the loop needs of its signal queue (tests inject a fake one)."""

    def fileno(self) -> int: ...
    def drain(self) -> list[signal.Signals]: ...
    def close(self) -> None: ...


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
        signal.SIGUSR2: "handle_usr2",
    }
    SIGNALS = tuple(HANDLERS)

    def __init__(
        self,
        options: ClusterOptions,
        spawner: Spawner | None = None,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
    ) -> None:
        self.state = ClusterState.of(
            options, log or logging.getLogger("eggscripts.master"), clock()
        )
        self.spawner: Spawner = spawner or ProcessSpawner()
        self.clock = clock
        self.timers = Timers(clock)
        self.parent = ParentChannel(options.ready_fd)
        self.exit_code: int | None = None
        self.interrupts = 0
        self.last_pass = self.state.started_at
        self.endpoint: LeaderEndpoint | None = None
        self.control: ControlServer | None = None
        self.logs_tried = False
        self.handlers = {sig: getattr(self, name) for sig, name in self.HANDLERS.items()}
        self.state.version = distribution_version()
        self.launch_options = options  # what an upgrade starts the new master with
        self.successor: Successor | None = None  # started by an upgrade: not the owner yet

    # -- main loop -----------------------------------------------------------------------
    def open(self, signals: SignalSource | None = None) -> None:
        """Everything the loop selects on, and the collaborators; `signals` from tests."""
        s = self.state
        self.selector = selectors.DefaultSelector()
        self.children = Children(self.selector, self.spawner, self.clock, self.SIGNALS)
        self.stopper = GracefulStop(self.children, self.timers, s.options, s.log)
        self.signals = signals if signals is not None else SignalQueue(self.SIGNALS)
        self.selector.register(self.signals, selectors.EVENT_READ)
        real = isinstance(self.spawner, ProcessSpawner)  # never scan a test runner's kids
        self.production = Production(s, self.children, self.timers, self, real)
        self.startup = Startup(s, self, self.children, self.timers, self.production, self.parent)
        self.pool = Pool(s, self, self.children, self.timers)
        self.messages = ChildMessages(s, self.children, self.startup, self.pool)
        self.on_message = self.messages.on_message
        self.watchdogs = Watchdogs(
            s.options,
            self.children,
            self.timers,
            s.log,
            ready=lambda: s.phase.running,
            give_up=lambda reason: self.begin_close(ExitCode.ERROR, reason),
            on_message=self.on_message,
        )
        self.startup.on_ready = self.on_ready
        self.startup.setup_logs = self.setup_logs

    def run(self) -> int:
        os.environ["EGG_SERVER_ENV"] = self.state.options.env
        self.open()
        try:
            self.start()
            while self.exit_code is None:
                self.run_once()
        except BaseException as exc:  # a bug: children must not outlive the master
            self.state.log.critical("master crashed: %r", exc, exc_info=exc)
            self.exit_code = ExitCode.ERROR
        finally:
            self.cleanup()
        return self.exit_code

    def start(self) -> None:
        """Open what the cluster serves on, spawn the agent
        (runtime/master/lifecycle/startup.py)."""
        options = self.state.options
        self.startup.arm()
        if options.control_path:
            try:
                self.control = open_control(
                    self.state, self, self.children, self.selector, self.timers
                )
            except StartupError as exc:
                self.fail_start(str(exc), ExitCode.ERROR)
                return
        if options.handover_fd is not None:  # started by an upgrade: owner once let go
            args = (self.selector, self.state, self.control, self.production)
            self.successor = Successor(options.handover_fd, *args)
        # Before the agent is spawned: it must not inherit NOTIFY_SOCKET, WATCHDOG_* or
        # LISTEN_* (runtime/master/production/wiring.py, listener.activated_listener).
        error = self.production.begin(self.selector)
        if error is not None:
            self.fail_start(error, ExitCode.ERROR)
            return
        if not self.startup.listen_early():
            return
        self.endpoint = self.make_endpoint()
        # First: the agent's boot is the longest step of the start.
        if not self.spawn_agent():
            self.fail_start("could not start the agent (see the log)", ExitCode.AGENT_START_ERROR)
            return
        self.setup_logs()
        # While the agent's interpreter boots on another core, load what the app workers
        # will use, so every fork shares it instead of importing it again.
        self.spawner.prepare(self.state.options)

    def make_endpoint(self) -> LeaderEndpoint | None:
        """The leader/follower endpoint every agent incarnation serves (docs/INTERNALS.md)."""
        endpoint = LeaderEndpoint()
        endpoint.export()
        return endpoint

    def setup_logs(self) -> None:
        """After the agent is on its way: the app name (pyproject.toml) and the log files
        are not needed to start it, so they stay off the start-up's critical path."""
        if logging.getLogger().handlers or self.logs_tried:
            return
        self.logs_tried = True
        s = self.state
        s.log = open_master_log(s)
        self.stopper.log = self.watchdogs.log = self.watchdogs.stale.log = s.log

    def run_once(self, timeout: float | None = None) -> None:
        wait = self.timers.timeout(LOOP_CAP) if timeout is None else timeout
        events = self.selector.select(wait)
        now = self.clock()
        if now - self.last_pass > PAUSE_GAP + wait:
            self.watchdogs.stale.master_resumed(now)
        for key, mask in events:
            if isinstance(key.data, ChildHandle):
                self.children.on_event(key.data, mask, self.on_message)
            elif key.data is not None:  # None: the signal pipe, drained below
                key.data.on_event(mask)
        self.dispatch_signals()
        for handle, status in self.children.reap(self.on_message):
            self.pool.on_exit(handle, status)
            self.production.child_exited(handle)  # its app code's orphans, if it died unclean
        self.timers.run_due()
        self.pool.maintain()
        self.children.flush()
        self.last_pass = self.clock()

    def dispatch_signals(self) -> None:
        for sig in self.signals.drain():
            self.handlers[sig]()

    # -- signals -------------------------------------------------------------------------
    def handle_term(self) -> None:
        """SIGTERM/SIGQUIT: drain now, or after `--shutdown-delay` (production.py)."""
        if not self.production.delay_stop():
            self.begin_close(ExitCode.OK, "received a stop signal")

    def handle_int(self) -> None:
        self.interrupts += 1
        if self.interrupts > 1:
            self.force_close()
        else:
            self.begin_close(ExitCode.OK, "interrupted")

    def handle_usr1(self) -> None:
        self.production.reopen_logs()

    def handle_usr2(self) -> None:
        """SIGUSR2: the same upgrade as `eggscripts reload --upgrade` (its outcome is logged)."""
        error = self.begin_upgrade()
        if error:
            self.state.log.warning("SIGUSR2: %s", error)

    def handle_chld(self) -> None:
        """Reaping happens on every pass; the signal only wakes the loop up."""

    def handle_hup(self) -> None:
        """SIGHUP: the same rolling reload as `eggscripts reload` (its outcome is logged)."""
        error = self.begin_reload()
        if error:
            self.state.log.warning("SIGHUP: %s", error)

    def handle_ttin(self) -> None:
        self.pool.scale_by_signal("SIGTTIN", +1)

    def handle_ttou(self) -> None:
        self.pool.scale_by_signal("SIGTTOU", -1)

    # -- MasterOps (runtime/master/lifecycle/ops.py) -----------------------------------------------
    def begin_reload(
        self, report: Report | None = None, timeout_ms: int | None = None, agent: bool = True
    ) -> str | None:
        s = self.state
        if s.phase is Phase.RELOADING:
            return "a reload is already in progress"
        if s.phase is not Phase.READY:
            return f"cannot reload while the cluster is {s.phase}"
        s.move_to(Phase.RELOADING)
        self.pool.new_chances()
        s.reload = RollingReload(s, self, self.children, self.timers, report, timeout_ms, agent)
        self.production.reload_started()  # RELOADING=1 + MONOTONIC_USEC
        s.reload.begin()
        return None

    def reload_ended(self, ok: bool) -> None:
        s = self.state
        s.reload = None
        if s.phase is Phase.RELOADING:
            s.move_to(Phase.READY)
            self.production.reload_finished(ok)  # READY=1 again

    def begin_upgrade(self, report: UpgradeReport | None = None) -> str | None:
        upgrade = Upgrade(
            self.launch_options, self.state, self, self.selector, self.timers, self.control,
            self.production,
        )  # fmt: skip
        return upgrade.begin(report)

    def on_ready(self) -> None:
        self.watchdogs.start()
        if self.successor is not None:
            self.successor.ready()

    def scale_to(self, count: int) -> None:
        self.pool.scale_to(count)

    def send_pids(self) -> None:
        self.startup.send_pids()

    def fail_start(self, text: str, code: int) -> None:
        self.startup.fail(text, code)

    def spawn_agent(self) -> bool:
        leader = self.endpoint.sock if self.endpoint else None
        try:
            self.children.spawn_agent(self.state.options, leader)
        except OSError as exc:
            self.state.log.error("could not start the agent: %s", exc)
            return False
        return True

    def fork_app(self, worker_id: int | None = None) -> bool:
        s = self.state
        if s.phase.closing or s.listener is None:
            return True
        try:
            self.children.fork_app(s.options, s.listener, s.name, self.private_fds, worker_id)
        except OSError as exc:
            s.log.error("could not fork an app worker: %s", exc)
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
        for part in (self.state.upgrade, self.successor):
            fds.extend(part.fds() if part is not None else ())
        return fds + self.production.fds()

    # -- closing -------------------------------------------------------------------------
    def begin_close(self, code: int, reason: str) -> None:
        s = self.state
        if s.phase.closing:
            return
        s.move_to(Phase.STOPPING)
        s.close_code = code
        self.startup.cancel()
        if s.reload is not None:
            s.reload.abort(reason)
        if s.upgrade is not None:
            s.upgrade.abort(reason)
        self.production.closing()
        quiet = no_console() if s.start_failed else None
        s.log.info("%s: stopping app workers", reason, extra=quiet)
        if s.listener is not None:
            s.listener.close()  # the workers' copies keep serving until they drain
        self.stopper.begin()
        self.check_closed()

    def check_closed(self) -> None:
        self.stopper.advance()
        if self.stopper.done and self.exit_code is None:
            self.state.move_to(Phase.STOPPED)
            self.exit_code = self.state.close_code

    def force_close(self) -> None:
        s = self.state
        s.log.warning("second interrupt: killing every child")
        if not s.phase.closing:
            s.move_to(Phase.STOPPING)
        s.close_code = ExitCode.ERROR
        self.stopper.kill_all()
        self.check_closed()

    def cleanup(self) -> None:
        for handle in self.children.all():  # only on an unexpected error
            handle.signal(signal.SIGKILL)
        if self.state.listener is not None:
            self.state.listener.close()
        self.parent.close()
        if self.endpoint is not None:
            self.endpoint.close()
        if self.control is not None:
            self.control.close()
        if self.successor is not None:
            self.successor.close()
        self.production.close()
        self.signals.close()
        self.selector.close()
        if self.exit_code:
            quiet = no_console() if self.state.start_failed else None
            self.state.log.error("exit with code %d", self.exit_code, extra=quiet)
        else:
            self.state.log.info("exit with code 0")
