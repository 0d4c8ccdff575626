"""Message throughput of a real cluster, in messages per second:

- worker -> worker `app.messenger.send_to(pid, ...)`: one app worker sends N messages to
  another through the master; timed from the first send to the receiver's last message
  (end to end, master relay included);
- leader publish -> follower: a leader client in the agent pushes N values to one
  subscribed follower in an app worker, over the leader endpoint (no master involved);
  timed from the follower's call that starts the flood to the last value received.

    python bench/messages.py [--rounds 3] [-n 100000] [--workers 2]

Uses the fixture apps `tests/fixtures/messenger` and `tests/fixtures/cluster_client`.
Prints the median of the rounds for each figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import FIXTURES, Cluster, free_port, request  # noqa: E402


def measure(app: str, path: str, n: int, rounds: int, workers: int) -> list[float]:
    port = free_port()
    rates = []
    with Cluster(FIXTURES / app, f"bench-messages-{app}", port, workers=workers) as cluster:
        request(port, f"{path}?n=1000", timeout=60)  # warm up
        for _ in range(rounds):
            result = json.loads(request(port, f"{path}?n={n}", timeout=180).text)
            assert result["received"] == n, result
            rates.append(n / result["seconds"])
        rc, _, err = cluster.stop()
        assert rc == 0, err
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-n", type=int, default=100_000, help="messages per round")
    parser.add_argument("--workers", type=int, default=2, help="app workers (>= 2)")
    args = parser.parse_args()
    cases = (
        ("worker -> worker send_to", "messenger", "/bench/send_to"),
        ("leader publish -> follower", "cluster_client", "/bench/flood"),
    )
    for label, app, path in cases:
        rates = measure(app, path, args.n, args.rounds, max(2, args.workers))
        rounds = ", ".join(f"{r:,.0f}" for r in rates)
        print(f"{label:28} {statistics.median(rates):>10,.0f} msg/s  (rounds: {rounds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
