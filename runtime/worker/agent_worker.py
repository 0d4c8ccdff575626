"""The agent: one per cluster, a new interpreter started by the master
(`python -m runtime.worker.agent_worker '<options JSON>'`, its channel fd in EGGSCRIPTS_IPC_FD).

It runs the app's agent side (agent.py boot hooks, leader clients) and no HTTP. Its
`agent-start` carries the app's `cluster.listen` config so a master started without a port
can bind the one the app configures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
import sys
from typing import Any

from runtime.errors import EggscriptsError
from runtime.exitcodes import ExitCode
from runtime.ipc.framing import ENV_IPC_FD, Action, Role
from runtime.ipc.leader_endpoint import inherited_leader_socket
from runtime.logs import setup_logging
from runtime.messenger import Messenger
from runtime.options import ClusterOptions
from runtime.titles import agent_title, set_title
from runtime.worker.base import (
    OrphanWatch,
    boot_target,
    new_event_loop,
    open_link,
    report_startup_error,
    spawn,
)

log = logging.getLogger("eggscripts.agent")


class AgentWorker:
    def __init__(self, options: ClusterOptions, sock: socket.socket) -> None:
        self.options = options
        self.sock = sock
        self.agent: Any = None
        self.stopping = asyncio.Event()
        self.leader_socket = inherited_leader_socket()
        self.leaders: Any = None  # runtime.cluster_client.LeaderServer once booted

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGQUIT):
            loop.add_signal_handler(sig, self.stopping.set)
        self.orphan_watch = OrphanWatch(self.on_master_lost)
        self.link = await open_link(self.sock, Role.AGENT, self.on_message, self.on_master_lost)
        self.messenger = Messenger(self.link, Role.AGENT)
        try:
            from runtime.apptarget import agent_factory

            create = agent_factory(self.options)
            self.agent = await boot_target(create, self.options, self.messenger)
            from runtime.cluster_client import serve_leaders

            self.leaders = await serve_leaders(self.leader_socket)
        except BaseException as exc:
            await report_startup_error(self.link, exc, self.options.base_dir)
            return ExitCode.AGENT_START_ERROR
        self.link.send(Action.AGENT_START.value, {"pid": os.getpid(), "listen": self.listen()})
        await self.stopping.wait()
        try:
            await asyncio.wait_for(self.agent.close(), self.options.kill_agent_timeout / 1000)
        except Exception:
            log.exception("agent close failed")
        if self.leaders is not None:
            await self.leaders.close()
        return ExitCode.OK

    def listen(self) -> dict[str, Any]:
        config = getattr(self.agent, "config", None) or {}
        listen = (config.get("cluster") or {}).get("listen") or {}
        return {k: listen[k] for k in ("port", "hostname") if listen.get(k) is not None}

    def on_message(self, msg: dict[str, Any]) -> None:
        if msg["action"] == Action.EGG_READY.value and self.agent is not None:
            spawn(self.agent.server_did_ready())
        self.messenger.deliver(msg)

    def on_master_lost(self) -> None:
        if self.agent is None:
            os._exit(ExitCode.ERROR)
        log.warning("master is gone; closing the agent")
        self.orphan_watch.lost()
        self.stopping.set()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    try:
        options = ClusterOptions.from_json(argv[1])
        fd = int(os.environ.pop(ENV_IPC_FD))
    except (IndexError, KeyError, ValueError, EggscriptsError) as exc:
        print(f"[eggscripts] agent_worker: bad invocation: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    set_title(agent_title(options.title, options.base_dir))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    if options.name is None:
        from runtime.app_name import app_name

        options = dataclasses.replace(options, name=app_name(options.base_dir))
    setup_logging("agent", options.base_dir, options.name or "app")
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return int(loop.run_until_complete(AgentWorker(options, sock).main()))
    finally:
        logging.shutdown()


if __name__ == "__main__":
    sys.exit(main())
