"""A master without processes: `FakeSpawner` hands the real `Master` socketpairs instead of
children, and the test plays every child (started, message, disconnected, exited with a
status) and the clock. Master decisions are then tested in milliseconds, the way gunicorn
tests its arbiter with a mocked fork; the real-process tests stay beside these."""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.contract.framing import FrameDecoder
from runtime.contract.messages import Action, Message, Role
from runtime.master.lifecycle.cluster_state import ClusterState
from runtime.master.loop import Master
from runtime.process.cluster_options import ClusterOptions


class FakeChild:
    """The child's end of one fake process."""

    def __init__(self, role: str, pid: int, worker_id: int, sock: socket.socket) -> None:
        self.role, self.pid, self.id = role, pid, worker_id
        self.sock = sock
        self.decoder = FrameDecoder()
        self.inbox: list[dict[str, Any]] = []
        self.signals: list[int] = []

    def send(
        self, action: str, data: Any = None, to: str = Role.MASTER, pid: int | None = None
    ) -> None:
        self.sock.sendall(Message(action, data, self.role, to, pid).to_frame())

    def started(self, **data: Any) -> None:
        """`agent-start` / `app-start` with the payload a real child sends, plus `data`."""
        if self.role == Role.AGENT:
            self.send(Action.AGENT_START, {"pid": self.pid, "listen": {}, **data})
        else:
            self.send(Action.APP_START, {"pid": self.pid, "id": self.id, **data})

    def received(self) -> list[str]:
        """Actions the master sent this child so far."""
        self.sock.setblocking(False)
        try:
            while chunk := self.sock.recv(65536):
                self.inbox.extend(self.decoder.feed(chunk))
        except BlockingIOError:
            pass
        return [m["action"] for m in self.inbox]

    def data_of(self, action: str) -> list[Any]:
        self.received()
        return [m["data"] for m in self.inbox if m["action"] == action]


class FakeSpawner:
    def __init__(self) -> None:
        self.children: dict[int, FakeChild] = {}
        self.exits: list[tuple[int, int]] = []
        self.next_pid = 1000
        self.fail_next: list[OSError] = []  # errors the next spawns raise
        self.prepared = 0

    def prepare(self, options: ClusterOptions) -> None:
        self.prepared += 1

    def _new(self, role: str, worker_id: int) -> tuple[int, socket.socket]:
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.next_pid += 1
        master_end, child_end = socket.socketpair()
        self.children[self.next_pid] = FakeChild(role, self.next_pid, worker_id, child_end)
        return self.next_pid, master_end

    def spawn_agent(
        self, options: ClusterOptions, leader: Any, setup: Any
    ) -> tuple[int, socket.socket]:
        return self._new(Role.AGENT, 1)

    def fork_app(
        self, options: ClusterOptions, worker_id: int, listener: Any, app_name: str, setup: Any
    ) -> tuple[int, socket.socket]:
        return self._new(Role.APP, worker_id)

    def kill(self, pid: int, sig: int) -> None:
        child = self.children.get(pid)
        if child is None:
            raise ProcessLookupError(pid)
        child.signals.append(sig)

    def reap(self) -> Iterator[tuple[int, int]]:
        exits, self.exits = self.exits, []
        yield from exits

    # -- what the test does --------------------------------------------------------------
    def exit(self, child: FakeChild, code: int = 0, sig: int | None = None) -> None:
        status = sig if sig is not None else code << 8  # a wait status
        child.sock.close()
        self.exits.append((child.pid, status))
        del self.children[child.pid]

    def role(self, role: str) -> list[FakeChild]:
        return [c for c in self.children.values() if c.role == role]

    @property
    def agent(self) -> FakeChild:
        (agent,) = self.role(Role.AGENT)
        return agent

    @property
    def apps(self) -> list[FakeChild]:
        return self.role(Role.APP)


class FakeSignals:
    """Stands in for the self-pipe: the test queues signals, the loop drains them."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        self.pending: list[signal.Signals] = []
        self.fds = (self._r, self._w)

    def fileno(self) -> int:
        return self._r

    def drain(self) -> list[signal.Signals]:
        pending, self.pending = self.pending, []
        return pending

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeCluster:
    """A real `Master` over fake children; `step()` runs loop passes without blocking."""

    def __init__(self, tmp_path: Any, **options: Any) -> None:
        defaults: dict[str, Any] = {
            "base_dir": str(tmp_path),
            "title": "fake",
            "port": 0,
            "hostname": "127.0.0.1",
            "workers": 2,
            "env": "prod",
            "name": "fake",
        }
        self.options = ClusterOptions(**{**defaults, **options})
        self.spawner = FakeSpawner()
        self.clock = Clock()
        self.signals = FakeSignals()
        self.log = logging.getLogger("eggscripts.test-master")
        self.master = Master(self.options, self.spawner, self.clock, self.log)
        self.master.setup_logs = lambda: None  # type: ignore[method-assign]
        self.master.make_endpoint = lambda: None  # type: ignore[method-assign]
        self.master.open(self.signals)
        self.master.start()
        self.step()

    @property
    def state(self) -> ClusterState:
        return self.master.state

    @property
    def phase(self) -> str:
        """What status shows: starting, ready, reloading, draining, stopping."""
        return str(self.master.state.phase)

    def step(self, passes: int = 3) -> None:
        for _ in range(passes):
            if self.master.exit_code is not None:
                return
            self.master.run_once(timeout=0)

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        self.step()

    def signal(self, sig: signal.Signals) -> None:
        self.signals.pending.append(sig)
        self.step()

    def ready(self) -> FakeCluster:
        """Agent and every worker announce they started: the cluster is ready."""
        self.spawner.agent.started(listen={})
        self.step()
        for app in self.spawner.apps:
            app.started()
        self.step()
        return self

    def swap_agent(self) -> FakeChild:
        """In a reload: the old agent exits as asked, the new one says agent-start; the
        canary is forked then. Returns the new agent."""
        self.spawner.exit(self.spawner.agent, 0)
        self.step()
        self.spawner.agent.started(listen={})
        self.step()
        return self.spawner.agent

    def swap_one_worker(self, old: FakeChild) -> None:
        """In a reload: the newest worker starts, then `old` drains and exits."""
        self.spawner.apps[-1].started()
        self.step()
        self.spawner.exit(old, 0)
        self.step()

    def close(self) -> None:
        self.master.cleanup()
        for child in list(self.spawner.children.values()):
            child.sock.close()

    def when(self, predicate: Callable[[], bool], seconds: float = 30, tick: float = 0.1) -> bool:
        """Advance the fake clock until `predicate` holds (or `seconds` have passed)."""
        for _ in range(int(seconds / tick)):
            if predicate():
                return True
            self.advance(tick)
        return predicate()


@pytest.fixture(name="make")
def make_fixture(tmp_path: Path) -> Iterator[Callable[..., FakeCluster]]:
    """`make(**options)`: a started `FakeCluster`, closed at the end of the test."""
    clusters: list[FakeCluster] = []

    def build(**options: Any) -> FakeCluster:
        cluster = FakeCluster(tmp_path, **options)
        clusters.append(cluster)
        return cluster

    yield build
    for cluster in clusters:
        cluster.close()
