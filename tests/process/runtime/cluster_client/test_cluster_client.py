"""Leader/follower clients across real clusters: the leader in the agent, a
follower in every app worker, the private endpoint between them.

The fixture app (`tests/fixtures/cluster_client`) creates the `KV` leader in agent.py and
a follower subscribed to topic `news` in every worker's app.py; every received value is
appended to `<records>/<pid>.jsonl`.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import stat
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.clusters import Cluster
from tests.conftest import SHARED_TITLES, new_title
from tests.helpers import FIXTURES, cluster_processes, free_port, request, wait_until

FIXTURE = FIXTURES / "cluster_client"
SETTLE = 0.3


class Running:
    def __init__(self, cluster: Cluster, records: Path) -> None:
        self.cluster = cluster
        self.records = records
        self.refresh()

    def refresh(self) -> None:
        procs = self.cluster.processes()
        self.agent = procs["agent"][0].pid
        self.apps = sorted(p.pid for p in procs["app"])

    def get(self, path: str, timeout: float = 5.0) -> Any:
        return request(self.cluster.port, path, timeout=timeout).json()

    def received(self, value: str) -> collections.Counter[int]:
        counts: collections.Counter[int] = collections.Counter()
        for path in self.records.glob("*.jsonl"):
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                if rec["data"] == value:
                    counts[rec["pid"]] += 1
        return counts

    def expect(self, value: str, pids: list[int], timeout: float = 5.0) -> None:
        want = collections.Counter(pids)
        wait_until(lambda: set(self.received(value)) >= set(want), timeout=timeout)
        time.sleep(SETTLE)
        assert self.received(value) == want

    def endpoint(self) -> tuple[str, str]:
        """What a worker was given (setproctitle hides /proc/<pid>/environ)."""
        found = self.get("/endpoint")
        listening = [c.laddr for c in psutil.Process(self.agent).net_connections("unix") if c.laddr]
        assert found["path"] in listening  # the agent serves exactly that path
        return found["path"], found["secret"]


def start(title: str, port: int, records: Path, workers: int = 3) -> Cluster:
    cluster = Cluster(FIXTURE, title, port, workers=workers)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CLUSTER_CLIENT_RECORD_DIR", str(records))
        cluster.start()
    return cluster


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    title = new_title("cluster-client")
    SHARED_TITLES.add(title)
    cluster = None
    try:
        records = tmp_path_factory.mktemp("cc-records")
        cluster = start(title, free_port(), records)
        yield Running(cluster, records)
        rc, _, err = cluster.stop()
        assert rc == 0, err
    finally:
        if cluster is not None and cluster.proc is not None and cluster.proc.poll() is None:
            cluster.proc.kill()
        SHARED_TITLES.discard(title)
    wait_until(lambda: not any(cluster_processes(title).values()), timeout=3)


def value() -> str:
    return "v-" + uuid.uuid4().hex[:10]


def test_every_follower_receives_a_publish(running: Running) -> None:
    v = value()
    sender = running.get(f"/publish?topic=news&value={v}")["pid"]
    assert sender in running.apps
    running.expect(v, [*running.apps, running.agent])  # the agent's own subscriber too


def test_leader_push_reaches_every_follower(running: Running) -> None:
    v = value()
    running.get(f"/agent_publish?topic=news&value={v}")
    running.expect(v, [*running.apps, running.agent])


def test_follower_calls_return_the_leaders_result(running: Running) -> None:
    who = running.get("/call/whoami")
    assert who["pid"] in running.apps
    assert who["value"] == {"pid": running.agent, "name": "main"}
    assert running.get("/call/add?args=[2,40]")["value"] == 42
    v = value()
    running.get(f"/publish?topic=news&value={v}")
    running.expect(v, [*running.apps, running.agent])
    assert running.get('/call/get?args=["news"]')["value"] == v
    assert running.get("/call/slow?args=[0.2]")["value"] == 0.2
    assert running.get("/call/fail")["error"] == "ClusterClientError: ValueError: nope"
    undeclared = running.get("/call/values")["error"]
    assert undeclared.startswith("AttributeError") and "follower_methods" in undeclared


def test_agent_builds_a_leader_only_followers_created(running: Running) -> None:
    assert running.get("/lazy?n=7") == {"pid": running.agent, "number": 7}
    assert running.get("/lazy?n=8") == {"pid": running.agent, "number": 8}  # other args


def test_late_subscriber_gets_the_latest_value(running: Running) -> None:
    v = value()
    topic = "late-" + v
    running.get(f"/publish?topic={topic}&value={v}")
    time.sleep(0.2)
    assert running.get(f"/late?topic={topic}")["value"] == v


# -- the endpoint ----------------------------------------------------------------------
def frame(msg: dict[str, Any]) -> bytes:
    body = json.dumps(msg).encode()
    return struct.pack(">I", len(body)) + body


def read_frame(sock: socket.socket) -> dict[str, Any] | None:
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    (size,) = struct.unpack(">I", head)
    body = b""
    while len(body) < size:
        body += sock.recv(size - len(body))
    return json.loads(body)


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(3)
    sock.connect(path)
    return sock


def test_endpoint_refuses_connections_without_the_secret(running: Running) -> None:
    path, secret = running.endpoint()
    attempts = [
        frame({"action": "hello", "secret": "0" * len(secret), "pid": 1}),
        frame({"action": "hello", "pid": 1}),
        frame({"action": "hello", "secret": [secret]}),
        frame({"action": "invoke", "secret": secret, "id": 1, "key": 'KV["main"]'}),
        struct.pack(">I", 1 << 30) + b"{",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for data in attempts:
        with connect(path) as sock:
            sock.sendall(data)
            assert read_frame(sock) is None, data  # closed without a word
    # the same path and protocol, with the secret: served
    with connect(path) as sock:
        sock.sendall(frame({"action": "hello", "secret": secret, "pid": os.getpid()}))
        assert read_frame(sock) == {"action": "welcome", "pid": running.agent}
        sock.sendall(
            frame(
                {
                    "action": "invoke",
                    "id": 7,
                    "key": 'KV["main"]',
                    "method": "add",
                    "args": [1, 2],
                    "kwargs": {},
                }
            )
        )
        assert read_frame(sock) == {"action": "result", "id": 7, "value": 3}


def test_endpoint_is_a_private_unix_socket(running: Running) -> None:
    path, _ = running.endpoint()
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and st.st_uid == os.getuid()
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    # nothing of the cluster listens on an IP socket except the HTTP port
    for role, procs in running.cluster.processes().items():
        for proc in procs:
            listening = [c for c in proc.net_connections("inet") if c.status == "LISTEN"]
            ports = {c.laddr.port for c in listening}
            assert ports <= {running.cluster.port}, (role, listening)
            assert all(c.laddr.ip == "127.0.0.1" for c in listening)


# -- agent restart ---------------------------------------------------------------------
def test_followers_resubscribe_after_agent_sigkill(title: str, port: int, tmp_path: Path) -> None:
    cluster = start(title, port, tmp_path)
    try:
        running = Running(cluster, tmp_path)
        v1 = value()
        running.get(f"/publish?topic=news&value={v1}")
        running.expect(v1, [*running.apps, running.agent])
        old_agent = running.agent

        os.kill(old_agent, signal.SIGKILL)
        # a call made while the agent is down waits for the next leader
        answer: dict[str, Any] = {}
        caller = threading.Thread(
            target=lambda: answer.update(running.get("/call/whoami", timeout=15))
        )
        caller.start()

        def new_agent() -> int | None:
            agents = cluster.processes()["agent"]
            return agents[0].pid if agents and agents[0].pid != old_agent else None

        running.agent = wait_until(new_agent, timeout=5)
        caller.join(15)
        assert answer.get("value", answer) == {"pid": running.agent, "name": "main"}

        # no app code ran: the followers re-attached and re-subscribed on their own
        v2 = value()
        running.get(f"/publish?topic=news&value={v2}")
        running.expect(v2, [*running.apps, running.agent], timeout=10)
        v3 = value()
        running.get(f"/agent_publish?topic=news&value={v3}")
        running.expect(v3, [*running.apps, running.agent])
        assert sorted(p.pid for p in cluster.processes()["app"]) == running.apps
        rc, _, err = cluster.stop()
        assert rc == 0, err
    finally:
        if cluster.proc is not None and cluster.proc.poll() is None:
            cluster.stop()


def test_follower_calls_during_a_reloads_agent_swap_wait_and_succeed(
    title: str, port: int, tmp_path: Path
) -> None:
    """A reload replaces the agent first; calls made while it is gone (or in flight on
    the old leader when it leaves) wait for the new leader instead of failing the request."""
    cluster = start(title, port, tmp_path, workers=2)
    try:
        running = Running(cluster, tmp_path)
        old_agent = running.agent
        answers: list[Any] = []
        stop = threading.Event()

        def caller(path: str) -> None:
            while not stop.is_set():
                try:
                    answers.append(running.get(path, timeout=15))
                except Exception as exc:  # a failed request is a finding, keep it
                    answers.append({"error": repr(exc)})

        callers = [threading.Thread(target=caller, args=(path,)) for path in
                   ("/call/whoami", "/call/whoami", "/call/slow?args=[0.2]")]  # fmt: skip
        for thread in callers:
            thread.start()
        wait_until(lambda: len(answers) > 10, timeout=10)
        cluster.signal(signal.SIGHUP)
        wait_until(lambda: "reload: done" in cluster.output()[0], timeout=30)
        running.refresh()
        settled = len(answers)
        wait_until(lambda: len(answers) > settled + 10, timeout=10)
        stop.set()
        for thread in callers:
            thread.join(20)
        errors = [a for a in answers if "error" in a]
        assert errors == [], errors[:3]
        leaders = {a["value"]["pid"] for a in answers if isinstance(a["value"], dict)}
        assert running.agent != old_agent and leaders == {old_agent, running.agent}
        rc, _, err = cluster.stop()
        assert rc == 0, err
    finally:
        if cluster.proc is not None and cluster.proc.poll() is None:
            cluster.stop()
