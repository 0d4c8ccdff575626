"""Messages to a booting worker are held, not lost (docs/MESSENGER.md §1): the agent of the
messenger fixture broadcasts numbered ticks at 50 Hz while the cluster reloads 10 times and
scales 10 steps. Every worker (and the agent itself) must receive every tick of every agent
from the moment it was forked, in order, once each, and nothing may log an error.

A tick sent after a worker was forked reaches it: the master routes to booting workers, so
it sits in the worker's channel until the worker reads it. The worker records its fork time
(`/proc/self/stat`) on the agent's tick clock (CLOCK_BOOTTIME) to make that checkable.
"""

from __future__ import annotations

import collections
import json
import signal
from pathlib import Path
from typing import Any

from tests.clusters import Cluster
from tests.helpers import FIXTURES, wait_until

FIXTURE = FIXTURES / "messenger"
HZ = 50
TICK_CLOCK_RESOLUTION = 0.02  # /proc start time is in 10 ms clock ticks: one tick, twice


def records(folder: Path) -> dict[int, list[dict[str, Any]]]:
    """Each process's records, in the order it wrote them."""
    out: dict[int, list[dict[str, Any]]] = {}
    for path in folder.glob("*.jsonl"):
        lines = path.read_text().splitlines()
        out[int(path.stem)] = [json.loads(line) for line in lines if line]
    return out


def app_pids(cluster: Cluster) -> set[int]:
    return {p.pid for p in cluster.processes()["app"]}


def check_ticks(by_pid: dict[int, list[dict[str, Any]]]) -> tuple[int, int]:
    """Assert the delivery guarantees; (receivers checked, ticks received)."""
    sent: dict[int, dict[int, float]] = collections.defaultdict(dict)  # agent -> seq -> time
    for pid, recs in by_pid.items():
        for rec in recs:
            if rec["action"] == "t-tick-sent":
                sent[pid][rec["data"]["seq"]] = rec["data"]["sent"]
    assert sent, "the agent never ticked"
    total = 0
    for pid, recs in by_pid.items():
        forked = next((r["data"]["at"] for r in recs if r["action"] == "t-forked"), None)
        got: dict[int, list[int]] = collections.defaultdict(list)  # agent -> seqs, in order
        for rec in recs:
            if rec["action"] == "t-tick":
                got[rec["data"]["agent"]].append(rec["data"]["seq"])
        for agent, seqs in got.items():
            total += len(seqs)
            first, last = seqs[0], seqs[-1]
            assert seqs == list(range(first, last + 1)), (
                f"pid {pid}: ticks of agent {agent} lost, repeated or out of order: {seqs}"
            )
            if forked is None:
                continue  # the agent receiving its own broadcasts: checked above
            due = [s for s, t in sent[agent].items() if t >= forked + TICK_CLOCK_RESOLUTION]
            if due and min(due) <= last:
                assert first <= min(due), (
                    f"worker {pid} (forked at {forked:.3f}) lost the ticks {first - min(due)} "
                    f"before its first one: got {first}..{last} of agent {agent}, "
                    f"due from {min(due)}"
                )
    return len(by_pid), total


def test_ticks_reach_every_worker_across_reloads_and_scaling(
    tmp_path: Path, title: str, port: int
) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    logs = tmp_path / "logs"
    cluster = Cluster(FIXTURE, title, port, workers=2, log_dir=str(logs))
    cluster.env = {"MESSENGER_RECORD_DIR": str(folder), "MESSENGER_TICK_HZ": str(HZ)}
    with cluster:

        def reloads_done() -> int:
            return cluster.output()[0].count("reload: done")

        for i in range(1, 11):
            cluster.signal(signal.SIGHUP)
            wait_until(lambda i=i: reloads_done() >= i, timeout=20, interval=0.05)
        for _ in range(5):
            before = app_pids(cluster)
            cluster.signal(signal.SIGTTIN)

            def grown(before: set[int] = before) -> bool:
                new = app_pids(cluster) - before
                return len(new) == 1 and any(
                    r["action"] == "egg-ready" for r in records(folder).get(min(new), [])
                )

            wait_until(grown, timeout=20, interval=0.05)
            cluster.signal(signal.SIGTTOU)
            wait_until(lambda: len(app_pids(cluster)) == 2, timeout=20, interval=0.05)
        rc, out, err = cluster.stop()
    assert rc == 0
    processes, ticks = check_ticks(records(folder))
    assert processes >= 2 + 20 + 5 + 10  # workers forked by 10 reloads and 5 scale-ups
    assert ticks > HZ  # a real stream, not a handful
    log_files = [p.read_text() for p in logs.rglob("*.log")]
    assert log_files, "no log files written"
    for text in (out, err, *log_files):
        assert "ERROR" not in text and "Traceback" not in text, text[-3000:]
