"""The master's registry of its children: creating them, their channels, their routing,
reaping them.

Owns the selector registrations, so a channel is watched for writing exactly while it has
unsent bytes and is forgotten the moment its child goes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from runtime.ipc.framing import Action, Channel, Role, encode, message
from runtime.master.handle import ChildHandle
from runtime.master.refork import fork_app_worker
from runtime.master.routing import route_targets
from runtime.master.signals import SignalQueue
from runtime.options import ClusterOptions

OnMessage = Callable[[ChildHandle, dict[str, Any]], None]


class Children:
    def __init__(
        self, selector: selectors.BaseSelector, master_signals: tuple[signal.Signals, ...] = ()
    ) -> None:
        self.selector = selector
        self.master_signals = master_signals
        self.worker_ids = itertools.count(1)
        self.by_pid: dict[int, ChildHandle] = {}
        self.agent: ChildHandle | None = None
        self._dirty: set[ChildHandle] = set()
        self._masks: dict[ChildHandle, int] = {}

    def adopt(self, role: str, worker_id: int, pid: int, sock: socket.socket) -> ChildHandle:
        handle = ChildHandle(role, worker_id, pid, Channel(sock))
        self.by_pid[pid] = handle
        self.selector.register(handle.channel, selectors.EVENT_READ, handle)
        self._masks[handle] = selectors.EVENT_READ
        if role == Role.AGENT.value:
            self.agent = handle
        return handle

    def spawn_agent(self, options: ClusterOptions, leader: socket.socket | None) -> ChildHandle:
        from runtime.master.spawner import spawn_agent

        pid, sock = spawn_agent(options, leader)
        return self.adopt(Role.AGENT.value, 1, pid, sock)

    def fork_app(
        self,
        options: ClusterOptions,
        listener: socket.socket,
        app_name: str,
        private_fds: Callable[[], list[int]],
    ) -> ChildHandle:
        def child_setup() -> None:
            """First thing in the forked worker: drop every master resource it inherited.
            Another child's channel kept open would hide the master's death from that
            child (no EOF on its channel)."""
            from runtime.logs import drop_inherited_handlers  # imported by the master already
            from runtime.privileges import drop_privileges

            SignalQueue.reset_in_child(self.master_signals)
            drop_inherited_handlers()  # without flushing: the master's lines stay its own
            drop_privileges(options)  # --user/--group, before any app code runs
            for fd in [self.selector.fileno(), *self.fds(), *private_fds()]:
                with contextlib.suppress(OSError):
                    os.close(fd)

        worker_id = next(self.worker_ids)
        pid, sock = fork_app_worker(options, worker_id, listener, app_name, child_setup)
        return self.adopt(Role.APP.value, worker_id, pid, sock)

    def on_ready(self, handle: ChildHandle, mask: int, on_message: OnMessage) -> None:
        """One selector event on a child's channel: send what is pending, read what came."""
        if mask & selectors.EVENT_WRITE:
            handle.channel.flush()
            self.watch(handle)
        if mask & selectors.EVENT_READ:
            messages = handle.channel.read()
            if messages is None:
                self.unwatch(handle)
                return
            if messages:
                handle.last_seen = time.monotonic()
            for msg in messages:
                on_message(handle, msg)

    def reap(self, on_message: OnMessage) -> Iterator[tuple[ChildHandle, int]]:
        """(handle, wait status) of every child that exited since the last call, forgotten.

        A dead child's unread messages (its startup error, typically) are still in the
        socket: they are handled before its exit, whatever order the selector reported."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            handle = self.by_pid.get(pid)
            if handle is None:
                continue  # not ours (e.g. the master runs as PID 1): reaped silently
            while not handle.channel.closed:
                messages = handle.channel.read()
                if not messages:
                    break
                for msg in messages:
                    on_message(handle, msg)
            self.forget(pid)
            handle.exit_status = status
            yield handle, status

    def forget(self, pid: int) -> ChildHandle | None:
        handle = self.by_pid.pop(pid, None)
        if handle is not None:
            self.unwatch(handle)
            if handle is self.agent:
                self.agent = None
        return handle

    def apps(self) -> list[ChildHandle]:
        return [h for h in self.by_pid.values() if h.role == Role.APP.value]

    def members(self) -> list[ChildHandle]:
        """Agent and app workers: the receivers of cluster-wide announcements."""
        return ([self.agent] if self.agent else []) + self.apps()

    def all(self) -> list[ChildHandle]:
        return list(self.by_pid.values())

    def fds(self) -> list[int]:
        return [h.channel.fileno() for h in self.by_pid.values() if not h.channel.closed]

    def send(self, handles: list[ChildHandle], action: Action, data: Any = None) -> None:
        self.deliver(handles, message(action, data, Role.MASTER, Role.ALL))

    def deliver(self, handles: list[ChildHandle], msg: dict[str, Any]) -> None:
        """Encode once, queue on every target; `flush` sends at the end of the pass."""
        if not handles:
            return
        try:
            frame = encode(msg)
        except (TypeError, ValueError):
            return  # the decoder only yields JSON values, so this cannot happen; stay up
        for handle in handles:
            if not handle.channel.closed:
                handle.channel.send(frame)
                self._dirty.add(handle)

    def route(self, sender: ChildHandle, msg: dict[str, Any]) -> None:
        msg["from"] = sender.role  # never trust the sender's claim
        self.deliver(route_targets(msg, self.agent, self.apps, self.by_pid), msg)

    def flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for handle in dirty:
            handle.channel.flush()
            self.watch(handle)

    def watch(self, handle: ChildHandle) -> None:
        """Ask for EVENT_WRITE exactly while unsent bytes remain (one syscall per change)."""
        if handle.channel.closed:
            return
        events = selectors.EVENT_READ
        if handle.channel.wants_write:
            events |= selectors.EVENT_WRITE
        if self._masks.get(handle) != events:
            self.selector.modify(handle.channel, events, handle)
            self._masks[handle] = events

    def unwatch(self, handle: ChildHandle) -> None:
        self._dirty.discard(handle)
        self._masks.pop(handle, None)
        if not handle.channel.closed:
            self.selector.unregister(handle.channel)
            handle.channel.close()
