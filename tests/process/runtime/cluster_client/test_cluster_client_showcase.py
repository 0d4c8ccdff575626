"""The showcase's messenger and leader/follower routes (its `ticker` plugin)."""

from __future__ import annotations

from tests.clusters import Cluster
from tests.helpers import SHOWCASE, request, wait_until


def test_showcase_broadcast_and_ticker(title: str, port: int) -> None:
    with Cluster(SHOWCASE, title, port, workers=2) as cluster:
        procs = cluster.processes()
        agent = procs["agent"][0].pid
        apps = sorted(p.pid for p in procs["app"])

        expected = [
            {"pid": agent, "role": "agent"},
            *({"pid": pid, "role": "app"} for pid in apps),
        ]

        def everyone_answered() -> dict | None:
            # Each ping waits 1 s for answers; on a loaded machine a first one can miss some.
            ping = request(port, "/api/cluster/broadcast").json()
            return ping if ping["answers"] == expected else None

        ping = wait_until(everyone_answered, timeout=5, interval=0.1)
        assert ping["from"] in apps

        def first_push() -> dict | None:  # the agent's Ticker publishes once a second
            now = request(port, "/api/cluster/ticks").json()
            return now if now["pushed"] is not None else None

        first = wait_until(first_push, timeout=5, interval=0.1)
        assert first["worker"] in apps
        assert first["leader"]["leader_pid"] == agent  # the count lives in the agent
        assert first["pushed"]["leader_pid"] == agent  # ...and was pushed to this worker

        def ticked() -> bool:  # the agent's timer pushes to every follower
            now = request(port, "/api/cluster/ticks").json()
            return now["pushed"]["count"] > first["leader"]["count"]

        wait_until(ticked, timeout=5, interval=0.2)
        rc, _, err = cluster.stop()
        assert rc == 0, err
