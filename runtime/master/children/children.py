"""The master's registry of its children: creating them (through the injected `Spawner`),
their channels and selector registrations, reaping them, and the one place where each
question about them ("who serves?", "who is booting?") is answered.

Owns the selector registrations, so a channel is watched for writing exactly while it has
unsent bytes and is forgotten the moment its child goes.
"""

from __future__ import annotations

import collections
import contextlib
import os
import selectors
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any

from runtime.contract.messages import Action, Message, Role
from runtime.master.children.channel import Channel
from runtime.master.children.handle import ChildHandle
from runtime.master.children.kinds import kind_of
from runtime.master.children.routing import route_targets
from runtime.master.children.spawner import Spawner
from runtime.master.children.states import IN_POOL, ChildState
from runtime.master.lifecycle.signals import SignalQueue
from runtime.process.cluster_options import ClusterOptions

OnMessage = Callable[[ChildHandle, Message], None]
S = ChildState


class Children:
    def __init__(
        self,
        selector: selectors.BaseSelector,
        spawner: Spawner,
        clock: Callable[[], float],
        master_signals: tuple[signal.Signals, ...] = (),
    ) -> None:
        self.selector = selector
        self.spawner = spawner
        self.clock = clock
        self.master_signals = master_signals
        self.by_pid: dict[int, ChildHandle] = {}
        self.agent: ChildHandle | None = None
        self.newest: ChildHandle | None = None  # the app worker adopted last
        self.generation = 0  # bumped by each reload: children adopted later run new code
        # (role, worker id) -> [restarts, cause of the last one], for status and metrics
        self.restarts: dict[tuple[str, int], list[Any]] = collections.defaultdict(lambda: [0, ""])
        # (role, worker id) -> {cause: restarts}, for /metrics
        self.restart_causes: dict[tuple[str, int], collections.Counter[str]] = {}
        self._dirty: set[ChildHandle] = set()
        self._masks: dict[ChildHandle, int] = {}

    # -- creating ------------------------------------------------------------------------
    def adopt(
        self, role: str, worker_id: int, pid: int, sock: socket.socket, base_dir: str = ""
    ) -> ChildHandle:
        channel = Channel(sock, f"{kind_of(role).label}#{worker_id}:{pid}")
        handle = ChildHandle(role, worker_id, pid, channel, self.clock(), self.spawner.kill)
        handle.generation = self.generation
        handle.release_dir = os.path.realpath(base_dir) if base_dir else ""
        self.by_pid[pid] = handle
        self.selector.register(handle.channel, selectors.EVENT_READ, handle)
        self._masks[handle] = selectors.EVENT_READ
        if handle.kind.pooled:
            self.newest = handle
        else:
            self.agent = handle
        return handle

    def next_generation(self) -> int:
        self.generation += 1
        return self.generation

    def spawn_agent(self, options: ClusterOptions, leader: socket.socket | None) -> ChildHandle:
        """Raises OSError when the spawn fails (the caller retries with backoff). The
        spawner closes every descriptor the agent does not keep."""
        setup = self.child_setup(options, None)  # the spawner closes every other fd
        pid, sock = self.spawner.spawn_agent(options, leader, setup)
        return self.adopt(Role.AGENT, 1, pid, sock, options.base_dir)

    def child_setup(
        self, options: ClusterOptions, private_fds: Callable[[], list[int]] | None
    ) -> Callable[[], None]:
        """What a forked child runs first. `private_fds`: the master's own descriptors to
        close besides the selector and the other children's channels; None when the
        spawner has closed every descriptor the child does not keep (the agent's)."""

        def child_setup() -> None:
            """First thing in a forked child: drop every master resource it inherited.
            Another child's channel kept open would hide the master's death from that
            child (no EOF on its channel)."""
            from runtime.process.log_handlers import drop_inherited_handlers  # imported already
            from runtime.process.privileges import drop_privileges

            SignalQueue.reset_in_child(self.master_signals)
            drop_inherited_handlers()  # without flushing: the master's lines stay its own
            if private_fds is not None:
                for fd in [self.selector.fileno(), *self.fds(), *private_fds()]:  # type: ignore[attr-defined]
                    with contextlib.suppress(OSError):
                        os.close(fd)
            # --user/--group, before any app code runs; after the closes, so no descriptor
            # the C library opens for the account lookup can be among them
            drop_privileges(options)

        return child_setup

    def fork_app(
        self,
        options: ClusterOptions,
        listener: socket.socket,
        app_name: str,
        private_fds: Callable[[], list[int]],
        worker_id: int | None = None,
    ) -> ChildHandle:
        """Raises OSError when fork fails (EAGAIN under a pids limit). `worker_id`: the
        slot to take (a reload's new worker takes over the one it retires), else the
        lowest free one."""
        worker_id = worker_id if worker_id is not None else self.free_worker_id()
        setup = self.child_setup(options, private_fds)
        pid, sock = self.spawner.fork_app(options, worker_id, listener, app_name, setup)
        return self.adopt(Role.APP, worker_id, pid, sock, options.base_dir)

    def free_worker_id(self) -> int:
        """Stable ids 1..N: a replacement takes the lowest id no pool member holds."""
        taken = {h.id for h in self.apps() if h.state in IN_POOL or h.state is S.KILLED}
        return next(i for i in range(1, len(taken) + 2) if i not in taken)

    def note_restart(self, handle: ChildHandle, cause: str) -> None:
        entry = self.restarts[(str(handle.role), handle.id)]
        entry[0] += 1
        entry[1] = cause
        self.restart_causes.setdefault((str(handle.role), handle.id), collections.Counter())[
            cause
        ] += 1

    # -- events --------------------------------------------------------------------------
    def on_event(self, handle: ChildHandle, mask: int, on_message: OnMessage) -> None:
        """One selector event on a child's channel: send what is pending, read what came."""
        if mask & selectors.EVENT_WRITE:
            handle.channel.flush()
            self.watch(handle)
        if mask & selectors.EVENT_READ:
            messages = handle.channel.read()
            if messages is None:
                self.unwatch(handle)
                return
            self.receive(handle, messages, on_message)

    def receive(self, handle: ChildHandle, messages: list[Message], on_message: OnMessage) -> None:
        if messages:
            handle.last_seen = self.clock()
        for msg in messages:
            on_message(handle, msg)

    def read_pending(self, on_message: OnMessage) -> None:
        """Read whatever every channel holds now, ready or not by the selector's account:
        after a SIGSTOP/SIGCONT the selector's deadline has passed and it reports nothing,
        yet heartbeats wait in the sockets (docs/INTERNALS.md, "The master")."""
        for handle in list(self.by_pid.values()):
            while not handle.channel.closed:
                messages = handle.channel.read()
                if messages is None:
                    self.unwatch(handle)
                    break
                if not messages:
                    break
                self.receive(handle, messages, on_message)

    def reap(self, on_message: OnMessage) -> Iterator[tuple[ChildHandle, int]]:
        """(handle, wait status) of every child that exited since the last call, forgotten.

        A dead child's unread messages (its startup error, typically) are still in the
        socket: they are handled before its exit, whatever order the selector reported."""
        for pid, status in self.spawner.reap():
            handle = self.by_pid.get(pid)
            if handle is None:
                continue  # not ours (e.g. the master runs as PID 1): reaped silently
            while not handle.channel.closed:
                messages = handle.channel.read()
                if not messages:
                    break
                self.receive(handle, messages, on_message)
            self.forget(pid)
            handle.change_state(S.EXITED)
            yield handle, status

    def forget(self, pid: int) -> ChildHandle | None:
        handle = self.by_pid.pop(pid, None)
        if handle is not None:
            self.unwatch(handle)
            if handle is self.agent:
                self.agent = None
        return handle

    # -- questions, each answered once ---------------------------------------------------
    def apps(self) -> list[ChildHandle]:
        """Every app worker still alive, whatever its state."""
        return [h for h in self.by_pid.values() if h.kind.pooled]

    def apps_in(self, *states: ChildState) -> list[ChildHandle]:
        return [h for h in self.by_pid.values() if h.kind.pooled and h.state in states]

    def serving(self) -> list[ChildHandle]:
        return self.apps_in(S.SERVING)

    def pool(self) -> list[ChildHandle]:
        """App workers that count as capacity and receive messages: booting or serving."""
        return self.apps_in(*IN_POOL)

    def stopping(self) -> list[ChildHandle]:
        return self.apps_in(S.STOPPING)

    def members(self) -> list[ChildHandle]:
        """Agent and pool workers: the receivers of cluster-wide announcements."""
        return ([self.agent] if self.agent else []) + self.pool()

    def all(self) -> list[ChildHandle]:
        return list(self.by_pid.values())

    def fds(self) -> list[int]:
        return [h.channel.fileno() for h in self.by_pid.values() if not h.channel.closed]

    # -- sending -------------------------------------------------------------------------
    def send(self, handles: list[ChildHandle], action: Action, data: Any = None) -> None:
        self.deliver(handles, Message(action, data, Role.MASTER, Role.ALL))

    def deliver(self, handles: list[ChildHandle], msg: Message) -> None:
        """Encode once, queue on every target; `flush` sends at the end of the pass."""
        if not handles:
            return
        try:
            frame = msg.to_frame()
        except (TypeError, ValueError):
            return  # the decoder only yields JSON values, so this cannot happen; stay up
        for handle in handles:
            if not handle.channel.closed:
                handle.channel.send(frame)
                self._dirty.add(handle)

    def route(self, sender: ChildHandle, msg: Message) -> None:
        stamped = Message(msg.action, msg.data, sender.role, msg.to, msg.receiver_pid)
        self.deliver(route_targets(stamped, self.agent, self.pool, self.by_pid), stamped)

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
