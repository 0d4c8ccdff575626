"""The agent: one per cluster, forked by the master (runtime/master/children/spawner.py)
with nothing of it but its channel, the leader endpoint and stdio; `run_agent` is its entry.

It runs the app's agent side (agent.py boot hooks, leader clients) and no HTTP. Its
`agent-start` carries the app's `cluster.listen` config so a master started without a port
can bind the one the app configures. Once booted its loop beats like an app worker's, so a
blocked agent is found and restarted too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
from typing import TYPE_CHECKING, Any

from runtime.contract.exitcodes import ExitCode
from runtime.contract.messages import Action, Role
from runtime.contract.payloads import AgentStart, Listen
from runtime.contract.titles import agent_title
from runtime.process.cluster_options import ClusterOptions
from runtime.worker.base import ChildProcess, run_child
from runtime.worker.heartbeat import beat

if TYPE_CHECKING:
    from runtime.loader import BootInfo
from runtime.worker.process_tree import stop_requested, terminate_tree

log = logging.getLogger("eggscripts.agent")


class AgentWorker(ChildProcess):
    role = Role.AGENT
    boot_error = ExitCode.AGENT_START_ERROR

    def __init__(
        self, options: ClusterOptions, sock: socket.socket, leader: socket.socket | None
    ) -> None:
        super().__init__(options, sock)
        self.stopping = asyncio.Event()
        self.leader_socket = leader
        self.leaders: Any = None  # runtime.cluster_client.LeaderServer once booted

    def create_target(self, info: BootInfo) -> Any:
        from runtime.apptarget import agent_factory

        return agent_factory(self.options)(info)

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGQUIT):
            loop.add_signal_handler(sig, self.stopping.set)
        return await super().main()

    async def serve(self) -> int:
        try:
            from runtime.cluster_client import serve_leaders

            self.leaders = await serve_leaders(self.leader_socket)
        except BaseException as exc:
            await self.report_startup_error(exc)
            return self.boot_error
        dirs = self.log_dirs  # set by adopt_log_dirs() once the app config loaded
        start = AgentStart(
            pid=os.getpid(), listen=self.listen(), log_dir=dirs["log_dir"], run_dir=dirs["run_dir"]
        )
        self.link.send(Action.AGENT_START, start)
        beat(asyncio.get_running_loop(), self.link.send, self.options.heartbeat_timeout)
        await self.stopping.wait()
        stop_requested()  # the kill timeout of app code's subprocesses counts from here
        try:
            await asyncio.wait_for(self.target.close(), self.options.kill_agent_timeout / 1000)
        except Exception:
            log.exception("agent close failed")
        if self.leaders is not None:
            await self.leaders.close()
        return ExitCode.OK

    def listen(self) -> Listen:
        config = getattr(self.target, "config", None) or {}
        from runtime.loader.listen_config import agent_start_listen

        return agent_start_listen(config)

    def on_master_lost(self) -> None:
        if self.leaders is None:
            os._exit(ExitCode.ERROR)
        log.warning("master is gone; closing the agent")
        self.orphan_watch.lost()
        self.stopping.set()


def run_agent(options: ClusterOptions, sock: socket.socket, leader: socket.socket | None) -> int:
    """Entry point of a freshly forked agent (privileges already dropped); its exit status."""
    if options.name is None:
        from runtime.process.app_name import app_name

        options = dataclasses.replace(options, name=app_name(options.base_dir))
    agent = AgentWorker(options, sock, leader)
    try:
        return run_child(agent_title(options.title, options.base_dir), "agent", options, agent.main)
    finally:
        import faulthandler

        terminate_tree(options.kill_agent_timeout / 1000)  # what app code started

        faulthandler.cancel_dump_traceback_later()
