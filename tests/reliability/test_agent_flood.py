"""Bounded buffers (issue 9): a worker flooding `send_to_agent` while the agent's event loop
is blocked must not grow the master without limit.

Before: the master kept every frame for the agent that did not read (+200 MB for 200 MB
sent). Now each channel's outgoing buffer is bounded (runtime/master/children/channel.py); what
does not fit is dropped and the count logged.
"""

from __future__ import annotations

import threading
import time

import psutil

from tests.clusters import Cluster
from tests.helpers import FIXTURES, request, wait_until

CHAOS = FIXTURES / "runtime" / "chaos"
FLOOD_MB = 100


def test_flooding_a_blocked_agent_keeps_the_master_bounded(title, port) -> None:
    with Cluster(CHAOS, title, port, workers=1) as cluster:
        master = psutil.Process(cluster.pid)
        baseline = master.memory_info().rss
        peak = [baseline]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], master.memory_info().rss)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        assert request(port, "/block-agent?s=2.5").text == "sent"
        started = time.monotonic()
        assert request(port, f"/flood?n={FLOOD_MB}&kb=1024", timeout=60).text == str(FLOOD_MB)
        flooded_in = time.monotonic() - started
        wait_until(lambda: " messages were dropped (" in cluster.output()[0], timeout=15)
        time.sleep(0.2)  # the other side's line, if both sides dropped
        done.set()
        sampler.join()
        out, _ = cluster.output()
        assert len(cluster.processes()["agent"]) == 1 and request(port, "/").text == "ok"
    growth = (peak[0] - baseline) / 2**20
    # The master keeps ~16 MiB for the blocked agent and drops the rest (its line names the
    # agent); the sending worker's own link is bounded too (docs/MESSENGER.md, its line
    # says "messenger:"), so which side drops, or both, depends on how fast each runs.
    counted = [ln for ln in out.splitlines() if " messages were dropped (" in ln]
    dropped = sum(int(ln.split(" messages were dropped (")[0].split()[-1]) for ln in counted)
    print(f"figures: {FLOOD_MB} x 1 MiB to a blocked agent in {flooded_in:.1f}s: master RSS "
          f"+{growth:.0f} MiB at peak, {dropped} messages dropped and logged")  # fmt: skip
    assert growth < 64, growth
    assert dropped > 0, counted
    master_side = [ln for ln in counted if " is reading again: " in ln]
    assert all("agent_worker#1:" in ln for ln in master_side), master_side
