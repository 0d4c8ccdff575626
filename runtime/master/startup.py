"""The master's start sequence (egg-cluster's): bind, start the agent, wait for its
`agent-start`, fork N app workers, wait for every `app-start`, then `egg-ready` to every
process and to the launching command.

Anything failing before ready fails the whole start, with one line on stderr and the exit
status that says what failed (runtime/exitcodes.py): 4 the app's code raised while loading
(import, config, plugin, router, a Boot hook; reported by the agent or a worker), 5 the
agent died, could not be spawned or did not start in time, 3 an app worker died, could not
be forked or did not boot in time, 1 anything else (port in use).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from runtime.errors import StartupError, report
from runtime.exitcodes import ExitCode
from runtime.ipc.leader_endpoint import LeaderEndpoint
from runtime.ipc.message import Action
from runtime.master.handle import ChildHandle
from runtime.master.listener import (
    activated_listener,
    bind_listener,
    listener_url,
    listening_port,
)
from runtime.master.states import Phase
from runtime.master.timers import Timer
from runtime.master.watchdogs import Watchdogs
from runtime.options import DEFAULT_PORT
from runtime.titles import master_title, set_title

if TYPE_CHECKING:
    from runtime.master.loop import Master


class Startup:
    def __init__(self, master: Master) -> None:
        self.m = master
        self.timer: Timer | None = None
        self.logs_tried = False

    def begin(self) -> None:
        m = self.m
        self.set_title()
        self.timer = m.timers.call_later(m.options.startup_timeout / 1000, self.on_timeout)
        if m.options.control_path and not self.open_control():
            return
        # Before the agent is spawned: it must not inherit NOTIFY_SOCKET, WATCHDOG_* or
        # LISTEN_* (runtime/master/production.py, listener.activated_listener).
        error = m.production.begin()
        if error is not None:
            self.fail(error, ExitCode.ERROR)
            return
        if not self.adopt_activated():
            return
        if m.listener is None and m.port is not None and not self.bind(m.host, m.port):
            return
        m.endpoint = self.make_endpoint()
        # First: the agent's boot is the longest step of the start.
        if not m.spawn_agent():
            self.fail("could not start the agent (see the log)", ExitCode.AGENT_START_ERROR)
            return
        self.setup_logs()
        # While the agent's interpreter boots on another core, load what the app workers
        # will use, so every fork shares it instead of importing it again.
        m.spawner.prepare()

    def open_control(self) -> bool:
        """The private control channel (`status`, `scale`, `reload`), when the CLI asked."""
        from runtime.master.commands import open_control

        try:
            self.m.control = open_control(self.m)
        except StartupError as exc:
            self.fail(str(exc), ExitCode.ERROR)
            return False
        return True

    def adopt_activated(self) -> bool:
        """systemd socket activation: serve on the passed socket instead of binding."""
        m = self.m
        try:
            sock = activated_listener()
        except StartupError as exc:
            self.fail(str(exc), ExitCode.ERROR)
            return False
        if sock is not None:
            m.listener = sock
            if sock.family != socket.AF_UNIX:
                m.host = str(sock.getsockname()[0])
            m.port = listening_port(sock)
            self.set_title()
        return True

    def make_endpoint(self) -> LeaderEndpoint | None:
        """The leader/follower endpoint every agent incarnation serves (SPEC §8)."""
        endpoint = LeaderEndpoint()
        endpoint.export()
        return endpoint

    def setup_logs(self) -> None:
        """After the agent is on its way: the app name (pyproject.toml) and the log files
        are not needed to start it, so they stay off the start-up's critical path."""
        m = self.m
        if logging.getLogger().handlers or self.logs_tried:
            return
        self.logs_tried = True
        from runtime.app_name import app_name
        from runtime.logs import setup_logging

        if m.options.name is None:
            m.options = dataclasses.replace(m.options, name=app_name(m.options.base_dir))
        m.name = m.options.name or ""
        o = m.options  # files wait for the app's `logger.dir`, told by agent-start
        m.log = setup_logging(
            "master", o.base_dir, m.name, True, o.log_dir, env=o.env, log_format=o.log_format
        )
        m.stopper.log = m.log

    def bind(self, host: str, port: int, path: str | None = None, mode: int | None = None) -> bool:
        """TCP, or a Unix socket at `path` (the app config's `cluster.listen.path`)."""
        m = self.m
        try:
            m.listener = bind_listener(host, port, path, mode)
        except StartupError as exc:
            self.fail(str(exc), ExitCode.ERROR)
            return False
        m.host, m.port = host, listening_port(m.listener)
        self.set_title()
        return True

    def set_title(self) -> None:
        m = self.m
        set_title(master_title(m.options.title, m.port or 0, m.options.base_dir))

    # -- progress ------------------------------------------------------------------------
    def agent_started(self, handle: ChildHandle, data: Any) -> None:
        m = self.m
        from runtime.logs import adopt_agent_dirs

        try:
            m.options = adopt_agent_dirs(m.options, data)  # the app config's logger.dir, rundir
        except StartupError as exc:  # no log files at all: fail, as a daemon start does
            self.fail(str(exc), ExitCode.ERROR)
            if m.phase is not Phase.READY:
                return
        m.log.info("%s started (%dms)", handle.label, self.elapsed_ms(handle.spawned_at))
        m.production.agent_started()
        m.parent.notify(Action.AGENT_START, {"pid": handle.pid})
        if m.phase is Phase.STARTING_AGENT:
            m.phase = Phase.STARTING_APPS
            listen = data.get("listen") if isinstance(data, dict) else None
            listen = listen if isinstance(listen, dict) else {}
            m.https = m.https or bool(listen.get("https"))
            if m.listener is None:
                port = int(listen.get("port") or DEFAULT_PORT)
                host = m.options.hostname or listen.get("hostname") or m.host
                if not self.bind(host, port, listen.get("path"), listen.get("mode")):
                    return
            for _ in range(m.target_workers):
                if not m.fork_app():
                    self.fail("could not fork an app worker", ExitCode.WORKER_BOOT_ERROR)
                    return
        elif m.phase is Phase.READY:
            m.children.send(m.children.pool(), Action.AGENT_START, {"pid": handle.pid})
            m.children.send([handle], Action.EGG_READY, self.ready_data())
            self.send_pids()

    def app_started(self, handle: ChildHandle) -> None:
        m = self.m
        m.log.info("%s started (%dms)", handle.label, self.elapsed_ms(handle.spawned_at))
        serving = len(m.children.serving())
        total = m.target_workers
        m.parent.notify(Action.APP_START, {"pid": handle.pid, "ready": serving, "total": total})
        m.production.worker_started()
        if m.phase is Phase.STARTING_APPS:
            # egg-cluster: the agent learns the workers at every app-start, before ready.
            agent = [m.children.agent] if m.children.agent else []
            m.children.send(agent, Action.EGG_PIDS, [h.pid for h in m.children.serving()])
            if serving >= total:
                self.ready()
        elif m.phase is Phase.READY:
            m.children.send([handle], Action.EGG_READY, self.ready_data())
            self.send_pids()

    def ready(self) -> None:
        m = self.m
        m.phase = Phase.READY
        self.cancel()
        m.log.info(
            "%s started on %s (%dms)", m.options.title, self.url, self.elapsed_ms(m.started_at)
        )
        m.children.send(m.children.members(), Action.EGG_READY, self.ready_data())
        self.send_pids()
        m.parent.notify(Action.EGG_READY, self.ready_data())
        m.parent.close()
        m.production.ready()  # READY=1: every app worker accepts
        m.watchdogs = Watchdogs(
            m.options,
            m.children,
            m.timers,
            m.log,
            ready=lambda: m.phase is Phase.READY,
            give_up=lambda reason: m.begin_close(ExitCode.ERROR, reason),
            on_message=m.on_message,
        )
        m.watchdogs.start()

    def elapsed_ms(self, since: float) -> float:
        return (self.m.clock() - since) * 1000

    @property
    def url(self) -> str:
        m = self.m
        return listener_url(m.listener, m.host, m.port, m.https)

    def ready_data(self) -> dict[str, Any]:
        children = self.m.children
        return {
            "pid": os.getpid(),
            "title": self.m.options.title,
            "url": self.url,
            "port": self.m.port,
            "workers": [h.pid for h in children.pool()],
            "agent": children.agent.pid if children.agent else None,
        }

    def send_pids(self) -> None:
        children = self.m.children
        children.send(children.members(), Action.EGG_PIDS, [h.pid for h in children.pool()])

    # -- failure -------------------------------------------------------------------------
    def on_timeout(self) -> None:
        m = self.m
        ms = m.options.startup_timeout
        agent_up = m.children.agent is not None and m.children.agent.started_at is not None
        code = ExitCode.WORKER_BOOT_ERROR if agent_up else ExitCode.AGENT_START_ERROR
        self.fail(f"cluster did not become ready within {ms} ms (startup timeout)", code)

    def fail(self, text: str, code: int) -> None:
        """One line on stderr and to the launching command, then stop what was started."""
        m = self.m
        if m.phase in (Phase.READY, Phase.CLOSING):
            return
        report(text)
        self.setup_logs()
        m.log.error("%s", text)
        m.parent.notify(Action.STARTUP_ERROR, {"message": text, "code": int(code)})
        m.parent.close()
        m.begin_close(code, "start failed")

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
