"""The messenger across a real cluster of one agent and three app workers.

Every process of the fixture app (`tests/fixtures/messenger`) appends what its messenger
receives to `<records>/<pid>.jsonl`, so each process is observed on its own. HTTP requests
land on whichever worker the kernel picks; the response says which one sent.
"""

from __future__ import annotations

import collections
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clusters import Cluster
from tests.conftest import SHARED_TITLES, new_title
from tests.helpers import FIXTURES, cluster_processes, free_port, request, wait_until

FIXTURE = FIXTURES / "messenger"
SETTLE = 0.3  # after the expected deliveries, how long duplicates get to show up


class Running:
    def __init__(self, cluster: Cluster, records: Path) -> None:
        self.cluster = cluster
        self.records = records
        procs = cluster.processes()
        self.master = procs["master"][0].pid
        self.agent = procs["agent"][0].pid
        self.apps = sorted(p.pid for p in procs["app"])

    @property
    def members(self) -> set[int]:
        return {self.agent, *self.apps}

    def get(self, path: str) -> Any:
        return request(self.cluster.port, path).json()

    def received(self, action: str, token: str | None = None) -> collections.Counter[int]:
        """How many times each pid received `action` (with this token)."""
        counts: collections.Counter[int] = collections.Counter()
        for rec in self.all():
            data = rec["data"] if isinstance(rec["data"], dict) else {}
            if rec["action"] == action and (token is None or data.get("token") == token):
                counts[rec["pid"]] += 1
        return counts

    def all(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.records.glob("*.jsonl")):
            out.extend(json.loads(line) for line in path.read_text().splitlines() if line)
        return out

    def of(self, pid: int) -> list[dict[str, Any]]:
        return [r for r in self.all() if r["pid"] == pid]

    def expect(self, action: str, token: str, pids: set[int] | list[int]) -> None:
        """Each of `pids` receives it exactly once, and nobody else receives it."""
        want = collections.Counter(pids)
        wait_until(lambda: set(self.received(action, token)) >= set(want), timeout=5)
        time.sleep(SETTLE)
        assert self.received(action, token) == want


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    records = tmp_path_factory.mktemp("messenger-records")
    title = new_title("messenger")
    SHARED_TITLES.add(title)
    cluster = Cluster(FIXTURE, title, free_port(), workers=3)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MESSENGER_RECORD_DIR", str(records))
            cluster.start()
        yield Running(cluster, records)
        rc, _, err = cluster.stop()
        assert rc == 0, err
    finally:
        if cluster.proc is not None and cluster.proc.poll() is None:
            cluster.proc.kill()
        SHARED_TITLES.discard(title)
    wait_until(lambda: not any(cluster_processes(title).values()), timeout=3)


def token() -> str:
    return uuid.uuid4().hex[:12]


def test_egg_ready_is_emitted_once_on_every_messenger(running: Running) -> None:
    wait_until(lambda: set(running.received("egg-ready")) == running.members)
    assert running.received("egg-ready") == collections.Counter(running.members)
    ready = next(r for r in running.of(running.agent) if r["action"] == "egg-ready")["data"]
    assert ready["pid"] == running.master
    assert sorted(ready["workers"]) == running.apps
    assert ready["agent"] == running.agent


def test_messages_sent_in_boot_hooks_arrive_after_ready(running: Running) -> None:
    apps = running.apps
    wait_until(lambda: sum(running.received("boot-broadcast").values()) == 4 * 3)
    time.sleep(SETTLE)
    # app -> agent from did_load: one per worker, none lost, none twice
    hellos = [r["data"]["pid"] for r in running.of(running.agent) if r["action"] == "boot-hello"]
    assert sorted(hellos) == apps
    # broadcast from each worker's did_load: every process gets each one exactly once
    for pid in running.members:
        senders = [r["data"]["pid"] for r in running.of(pid) if r["action"] == "boot-broadcast"]
        assert sorted(senders) == apps, pid
    # agent -> apps from the agent's did_load
    assert running.received("agent-boot") == collections.Counter(apps)
    # ...and all of it after that process's egg-ready
    for pid in running.members:
        actions = [r["action"] for r in running.of(pid)]
        assert actions[0] == "egg-ready", (pid, actions)


def test_broadcast_from_a_worker_reaches_agent_and_every_worker_once(running: Running) -> None:
    t = token()
    sender = running.get(f"/send?kind=broadcast&action=t-broadcast&token={t}")["pid"]
    assert sender in running.apps
    running.expect("t-broadcast", t, running.members)


def test_send_to_app_reaches_every_worker(running: Running) -> None:
    t = token()
    running.get(f"/send?kind=send_to_app&action=t-app&token={t}")
    running.expect("t-app", t, running.apps)


def test_send_to_agent_reaches_only_the_agent(running: Running) -> None:
    t = token()
    running.get(f"/send?kind=send_to_agent&action=t-agent&token={t}")
    running.expect("t-agent", t, [running.agent])


def test_send_random_reaches_exactly_one_worker(running: Running) -> None:
    tokens = [token() for _ in range(12)]
    for t in tokens:
        running.get(f"/send?kind=send_random&action=t-random&token={t}")
    wait_until(lambda: all(running.received("t-random", t) for t in tokens))
    time.sleep(SETTLE)
    chosen = []
    for t in tokens:
        got = running.received("t-random", t)
        assert sum(got.values()) == 1, got
        chosen.extend(got)
    assert set(chosen) <= set(running.apps)


def test_send_to_pid_reaches_exactly_that_process(running: Running) -> None:
    for target in [*running.apps, running.agent]:
        t = token()
        running.get(f"/send?kind=send_to&pid={target}&action=t-to&token={t}")
        running.expect("t-to", t, [target])


def test_agent_sends_to_apps(running: Running) -> None:
    """Worker asks the agent (send_to_agent), the agent sends with its own messenger."""
    t = token()
    running.get(f"/relay?kind=send_to_app&action=t-app&token={t}")
    running.expect("t-app", t, running.apps)
    t = token()
    running.get(f"/relay?kind=broadcast&action=t-broadcast&token={t}")
    running.expect("t-broadcast", t, running.members)
    t = token()
    running.get(f"/relay?kind=send_random&action=t-random&token={t}")
    wait_until(lambda: running.received("t-random", t))
    time.sleep(SETTLE)
    got = running.received("t-random", t)
    assert sum(got.values()) == 1 and set(got) <= set(running.apps)
    t = token()
    running.get(f"/relay?kind=send_to&pid={running.apps[1]}&action=t-to&token={t}")
    running.expect("t-to", t, [running.apps[1]])
    senders = {r["data"]["sender"] for r in running.all() if r["action"].startswith("t-")}
    assert running.agent in senders


def test_bad_data_is_an_error_in_the_sender(running: Running) -> None:
    errors = running.get("/bad")
    assert errors["set"].startswith("TypeError: messenger: data of 't-broadcast' is not JSON")
    assert errors["nan"].startswith("TypeError: messenger: data of 't-app' is not JSON")
    assert "reserved" in errors["reserved"] and errors["reserved"].startswith("ValueError")
    assert errors["pid"].startswith("ValueError")
    t = token()  # the sender and the cluster carry on
    running.get(f"/send?kind=broadcast&action=t-broadcast&token={t}")
    running.expect("t-broadcast", t, running.members)


def test_master_survives_malformed_messages(running: Running) -> None:
    """Frames the messenger would refuse, written straight to the channel: bogus
    receiver_pid, unknown `to`, runtime actions a worker may not send."""
    before = running.cluster.processes()
    t = token()
    running.get(f"/raw?token={t}")
    running.get(f"/send?kind=broadcast&action=t-broadcast&token={t}")
    running.expect("t-broadcast", t, running.members)  # only the well-formed one
    assert running.received("egg-ready") == collections.Counter(running.members)
    after = running.cluster.processes()
    for role in ("master", "agent", "app"):
        assert {p.pid for p in after[role]} == {p.pid for p in before[role]}, role


def test_failing_handlers_are_logged_not_fatal(running: Running) -> None:
    before = {p.pid for p in running.cluster.processes()["app"]}
    running.get(f"/send?kind=broadcast&action=t-async-fail&token={token()}")
    running.get(f"/send?kind=broadcast&action=t-sync-fail&token={token()}")
    t = token()
    running.get(f"/send?kind=broadcast&action=t-broadcast&token={t}")
    running.expect("t-broadcast", t, running.members)
    time.sleep(0.5)  # a worker treating it as an uncaught fault would be leaving now
    assert {p.pid for p in running.cluster.processes()["app"]} == before
    assert len(running.cluster.processes()["agent"]) == 1
