"""The master: one single-threaded loop that keeps one agent and N app workers alive.

Like gunicorn's arbiter, the loop blocks in a selector over the signal self-pipe and every
child's channel, with the next deadline as timeout; each pass then dispatches queued
signals, reaps exited children and runs due timers. Only the master forks or kills. No app
code ever runs here: the agent is a new interpreter and app workers load the app after fork.

Lifecycle (egg-cluster's): STARTING_AGENT -> STARTING_APPS -> READY -> CLOSING. A child
dying before READY fails the start (exit 1, every child stopped); after READY app workers
are reforked and the agent is restarted after `agent_restart_delay`.
"""

from __future__ import annotations

import dataclasses
import enum
import gc
import logging
import os
import selectors
import signal
import socket
import sys
import time
from typing import Any

from runtime.errors import StartupError
from runtime.exitcodes import ExitCode, describe_status
from runtime.ipc.framing import Action, Role
from runtime.ipc.leader_endpoint import LeaderEndpoint
from runtime.master.children import Children
from runtime.master.handle import ChildHandle
from runtime.master.listener import bind_listener, url_host
from runtime.master.ready_channel import ParentChannel
from runtime.master.refork import ReforkPolicy
from runtime.master.shutdown import GracefulStop
from runtime.master.signals import SignalQueue
from runtime.master.timers import Timer, Timers
from runtime.master.watchdogs import Watchdogs
from runtime.options import DEFAULT_PORT, ClusterOptions
from runtime.titles import master_title, set_title


class Phase(enum.Enum):
    STARTING_AGENT = "starting-agent"
    STARTING_APPS = "starting-apps"
    READY = "ready"
    CLOSING = "closing"


class Master:
    HANDLERS = {  # signal -> method; handlers only run from the loop, never in the handler
        signal.SIGTERM: "handle_term",
        signal.SIGINT: "handle_int",
        signal.SIGQUIT: "handle_term",
        signal.SIGCHLD: "handle_chld",
        signal.SIGHUP: "handle_hup",
        signal.SIGTTIN: "handle_ttin",
        signal.SIGTTOU: "handle_ttou",
    }
    SIGNALS = tuple(HANDLERS)

    def __init__(self, options: ClusterOptions) -> None:
        self.options = options
        self.name = options.name or ""
        self.phase = Phase.STARTING_AGENT
        self.timers = Timers()
        self.listener: socket.socket | None = None
        self.port: int | None = options.port
        self.host = options.bind_host
        self.target_workers = options.workers
        self.refork = ReforkPolicy(
            options.refork_limit, options.refork_duration / 1000, options.refork, options.env
        )
        self.parent = ParentChannel(options.ready_fd)
        self.exit_code: int | None = None
        self.close_code = ExitCode.OK
        self.interrupts = 0
        self.started_at = time.monotonic()
        self.startup_timer: Timer | None = None
        self.agent_timer: Timer | None = None
        self.endpoint: LeaderEndpoint | None = None
        self.control: Any = None  # runtime/master/control.py ControlServer, when asked for
        self.handlers = {sig: getattr(self, name) for sig, name in self.HANDLERS.items()}
        self.actions = {
            Action.AGENT_START.value: self.on_agent_start,
            Action.APP_START.value: self.on_app_start,
            Action.STARTUP_ERROR.value: self.on_startup_error,
            Action.DISCONNECT.value: self.on_disconnect,
            Action.HEARTBEAT.value: self.on_heartbeat,
        }
        self.log = logging.getLogger("eggscripts.master")

    # -- main loop -----------------------------------------------------------------------
    def run(self) -> int:
        self.set_title()
        os.environ["EGG_SERVER_ENV"] = self.options.env
        self.selector = selectors.DefaultSelector()
        self.children = Children(self.selector, self.SIGNALS)
        self.stopper = GracefulStop(
            self.children,
            self.timers,
            self.options.kill_app_timeout / 1000,
            self.options.kill_agent_timeout / 1000,
            self.log,
        )
        self.signals = SignalQueue(self.SIGNALS)
        self.selector.register(self.signals, selectors.EVENT_READ)
        try:
            self.start()
            while self.exit_code is None:
                self.run_once()
        finally:
            self.cleanup()
        return self.exit_code

    def run_once(self) -> None:
        for key, mask in self.selector.select(self.timers.timeout(1.0)):
            if hasattr(key.data, "on_event"):  # the control channel's sockets
                key.data.on_event(mask)
            elif key.data is not None:  # None: the signal pipe, drained below
                self.children.on_ready(key.data, mask, self.on_message)
        self.dispatch_signals()
        for handle, status in self.children.reap(self.on_message):
            if handle.role == Role.AGENT.value:
                self.on_agent_exit(handle, status)
            else:
                self.on_app_exit(handle, status)
        self.timers.run_due()
        self.children.flush()

    def dispatch_signals(self) -> None:
        for sig in self.signals.drain():
            self.handlers[sig]()

    # -- signals -------------------------------------------------------------------------
    def handle_term(self) -> None:
        self.begin_close(ExitCode.OK, "received a stop signal")

    def handle_int(self) -> None:
        self.interrupts += 1
        if self.interrupts > 1:
            self.force_close()
        else:
            self.begin_close(ExitCode.OK, "interrupted")

    def handle_chld(self) -> None:
        """Reaping happens on every pass; the signal only wakes the loop up."""

    def handle_hup(self) -> None:
        self.log.info("SIGHUP ignored (use `eggscripts reload` to restart workers)")

    def handle_ttin(self) -> None:
        if self.phase is Phase.READY:
            self.target_workers += 1
            self.log.info("SIGTTIN: %d app workers", self.target_workers)
            self.fork_app()

    def handle_ttou(self) -> None:
        if self.phase is Phase.READY and self.target_workers > 1:
            self.target_workers -= 1
            self.log.info("SIGTTOU: %d app workers", self.target_workers)
            newest = max(self.children.apps(), key=lambda h: h.id, default=None)
            if newest is not None:
                newest.stopping = True
                newest.kill(signal.SIGTERM)

    # -- startup -------------------------------------------------------------------------
    def start(self) -> None:
        timeout = self.options.startup_timeout / 1000
        self.startup_timer = self.timers.call_later(timeout, self.on_startup_timeout)
        if self.options.control_path and not self.open_control():
            return
        if self.port is not None and not self.bind(self.host, self.port):
            return
        self.endpoint = LeaderEndpoint()
        self.endpoint.export()
        self.spawn_agent()  # first: the agent's boot is the longest step of the start
        self.setup_logs()
        # While the agent's interpreter boots on another core, load the HTTP stack the app
        # workers will use, so every fork shares it instead of importing it again.
        from runtime.worker.app_worker import preload

        preload()
        gc.freeze()  # what workers inherit stays shared: the GC never touches those pages

    def open_control(self) -> bool:
        from runtime.master.commands import open_control

        try:
            self.control = open_control(self)
        except StartupError as exc:
            self.fail_startup(str(exc))
            return False
        return True

    def setup_logs(self) -> None:
        """After the agent is on its way: the app name (pyproject.toml) and the log files
        are not needed to start it, so they stay off the start-up's critical path."""
        if logging.getLogger().handlers:
            return
        from runtime.app_name import app_name
        from runtime.logs import setup_logging

        if self.options.name is None:
            self.options = dataclasses.replace(self.options, name=app_name(self.options.base_dir))
        self.name = self.options.name or ""
        self.log = setup_logging("master", self.options.base_dir, self.name, stdout=True)

    def bind(self, host: str, port: int) -> bool:
        try:
            self.listener = bind_listener(host, port)
        except StartupError as exc:
            self.fail_startup(str(exc))
            return False
        self.host, self.port = host, self.listener.getsockname()[1]
        self.set_title()
        return True

    def set_title(self) -> None:
        port = self.port if self.port is not None else 0
        set_title(master_title(self.options.title, port, self.options.base_dir))

    def spawn_agent(self) -> None:
        self.agent_timer = None
        leader = self.endpoint.sock if self.endpoint else None
        handle = self.children.spawn_agent(self.options, leader)
        if self.phase is Phase.READY:
            self.watchdogs.agent_restarted(handle)

    def fork_app(self) -> None:
        if self.phase is not Phase.CLOSING and self.listener is not None:
            self.children.fork_app(self.options, self.listener, self.name, self.private_fds)

    def private_fds(self) -> list[int]:
        """Master-only fds a forked worker must close first (the registry adds the
        channels): the ready fd kept open by a worker would hide the master's death from
        `start --daemon`, the endpoint would keep a dead agent's address alive."""
        fds = list(self.signals.fds)
        if self.endpoint is not None:
            fds.append(self.endpoint.sock.fileno())
        if self.parent.fd is not None:
            fds.append(self.parent.fd)
        if self.control is not None:
            fds.extend(self.control.fds())
        return fds

    def on_agent_start(self, handle: ChildHandle, data: Any) -> None:
        handle.started = True
        elapsed = (time.monotonic() - handle.spawned_at) * 1000
        self.log.info("%s started (%dms)", handle.label, elapsed)
        self.parent.notify(Action.AGENT_START, {"pid": handle.pid})
        if self.phase is Phase.STARTING_AGENT:
            self.phase = Phase.STARTING_APPS
            if self.listener is None:
                listen = data.get("listen") if isinstance(data, dict) else None
                listen = listen if isinstance(listen, dict) else {}
                port = int(listen.get("port") or DEFAULT_PORT)
                host = self.options.hostname or listen.get("hostname") or self.host
                if not self.bind(host, port):
                    return
            for _ in range(self.target_workers):
                self.fork_app()
        elif self.phase is Phase.READY:
            self.children.send(self.children.apps(), Action.AGENT_START, {"pid": handle.pid})
            self.children.send([handle], Action.EGG_READY, self.ready_data())
            self.send_pids()

    def on_app_start(self, handle: ChildHandle, data: Any) -> None:
        handle.started = True
        self.refork.boot_failures = 0
        elapsed = (time.monotonic() - handle.spawned_at) * 1000
        self.log.info("%s started (%dms)", handle.label, elapsed)
        started = sum(1 for h in self.children.apps() if h.started)
        self.parent.notify(
            Action.APP_START, {"pid": handle.pid, "ready": started, "total": self.target_workers}
        )
        if self.phase is Phase.STARTING_APPS and started >= self.target_workers:
            self.on_ready()
        elif self.phase is Phase.READY:
            self.children.send([handle], Action.EGG_READY, self.ready_data())
            self.send_pids()

    def on_ready(self) -> None:
        self.phase = Phase.READY
        if self.startup_timer is not None:
            self.startup_timer.cancel()
        elapsed = (time.monotonic() - self.started_at) * 1000
        self.log.info("%s started on %s (%dms)", self.options.title, self.url, elapsed)
        self.children.send(self.children.members(), Action.EGG_READY, self.ready_data())
        self.send_pids()
        self.parent.notify(Action.EGG_READY, self.ready_data())
        self.parent.close()
        self.watchdogs = Watchdogs(
            self.options,
            self.children,
            self.timers,
            self.log,
            ready=lambda: self.phase is Phase.READY,
            give_up=lambda reason: self.begin_close(ExitCode.ERROR, reason),
        )
        self.watchdogs.start()

    def on_heartbeat(self, handle: ChildHandle, data: Any) -> None:
        """The registry notes when anything last came from a child; the data are the
        worker's counters for `status` (runtime/worker/heartbeat.py)."""
        if isinstance(data, dict):
            handle.stats = data

    @property
    def url(self) -> str:
        scheme = "https" if self.options.https else "http"
        return f"{scheme}://{url_host(self.host)}:{self.port}"

    def ready_data(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "title": self.options.title,
            "url": self.url,
            "port": self.port,
            "workers": [h.pid for h in self.children.apps()],
            "agent": self.children.agent.pid if self.children.agent else None,
        }

    def on_startup_timeout(self) -> None:
        ms = self.options.startup_timeout
        self.fail_startup(f"cluster did not become ready within {ms} ms (startup timeout)")

    def on_startup_error(self, handle: ChildHandle, data: Any) -> None:
        text = data.get("message") if isinstance(data, dict) else None
        handle.startup_error = str(text or "unknown error")
        what = "agent" if handle.role == Role.AGENT.value else f"app worker #{handle.id}"
        line = f"{what} (pid {handle.pid}) failed to start: {handle.startup_error}"
        if self.phase is Phase.READY:
            self.log.error("%s", line)
        else:
            self.fail_startup(line)

    def fail_startup(self, text: str) -> None:
        if self.phase in (Phase.READY, Phase.CLOSING):
            return
        print(f"[eggscripts] {text}", file=sys.stderr, flush=True)
        self.setup_logs()
        self.log.error("%s", text)
        self.parent.notify(Action.STARTUP_ERROR, {"message": text})
        self.parent.close()
        self.begin_close(ExitCode.ERROR, "start failed")

    # -- children dying ------------------------------------------------------------------
    def on_agent_exit(self, handle: ChildHandle, status: int) -> None:
        how = describe_status(status, handle.sigkilled)
        if self.phase is Phase.CLOSING:
            self.log.info("%s exited (%s)", handle.label, how)
            self.check_closed()
        elif self.phase is not Phase.READY:
            self.fail_startup(f"agent (pid {handle.pid}) exited before it started ({how})")
        else:
            delay = self.options.agent_restart_delay / 1000
            self.log.error("%s died (%s); restarting in %.1fs", handle.label, how, delay)
            self.children.send(self.children.apps(), Action.AGENT_EXIT, {"pid": handle.pid})
            self.agent_timer = self.timers.call_later(delay, self.spawn_agent)

    def on_app_exit(self, handle: ChildHandle, status: int) -> None:
        how = describe_status(status, handle.sigkilled)
        if self.phase is Phase.CLOSING or handle.stopping:
            self.log.info("%s exited (%s)", handle.label, how)
            self.check_closed()
            return
        if self.phase is not Phase.READY:
            if handle.startup_error is None:
                self.fail_startup(f"app worker #{handle.id} (pid {handle.pid}) exited ({how})")
            return
        self.log.error("%s died (%s)", handle.label, how)
        self.children.send(self.children.members(), Action.APP_EXIT, {"pid": handle.pid})
        self.send_pids()
        if not handle.disconnected:
            if not handle.started:
                self.refork.boot_failures += 1
            self.replace(handle)

    def on_disconnect(self, handle: ChildHandle, data: Any) -> None:
        """A faulted worker leaves the pool: replace it now, not again at its exit."""
        if self.phase is Phase.READY and not handle.disconnected:
            handle.disconnected = True
            self.log.error("%s disconnected after an uncaught error", handle.label)
            self.replace(handle)

    def replace(self, handle: ChildHandle) -> None:
        delay, why_not = self.refork.plan()
        if delay is None:
            self.log.error("%s; not replacing %s", why_not, handle.label)
            if not any(not h.disconnected for h in self.children.apps()):
                self.begin_close(ExitCode.ERROR, "no app worker left")
        elif delay:
            self.log.warning("replacing %s in %.1fs", handle.label, delay)
            self.timers.call_later(delay, self.fork_app)
        else:
            self.fork_app()

    # -- closing -------------------------------------------------------------------------
    def begin_close(self, code: int, reason: str) -> None:
        if self.phase is Phase.CLOSING:
            return
        self.phase = Phase.CLOSING
        self.close_code = code
        for timer in (self.startup_timer, self.agent_timer):
            if timer is not None:
                timer.cancel()
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
            handle.kill(signal.SIGKILL)
        self.parent.close()
        if self.endpoint is not None:
            self.endpoint.close()
        if self.control is not None:
            self.control.close()
        self.signals.close()
        self.selector.close()
        if self.exit_code:
            self.log.error("exit with code %d", self.exit_code)
        else:
            self.log.info("exit with code 0")

    # -- messages ------------------------------------------------------------------------
    def on_message(self, handle: ChildHandle, msg: dict[str, Any]) -> None:
        if msg.get("to") == Role.MASTER.value:
            action = self.actions.get(msg["action"])
            if action is None:
                self.log.warning("unknown action %r from %s", msg["action"], handle.label)
            else:
                action(handle, msg.get("data"))
            return
        self.children.route(handle, msg)

    def send_pids(self) -> None:
        apps = self.children.apps()
        self.children.send(self.children.members(), Action.EGG_PIDS, [h.pid for h in apps])
