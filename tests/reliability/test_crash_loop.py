"""Crash loops (issue 9): a worker or an agent that dies soon after every start is
restarted a bounded number of times (`refork_limit` within `refork_duration`, with backoff
for the agent), then the cluster exits 1 so that a supervisor sees it: at once when no app
worker is left, by the production health check when the agent is gone. Before: a
crash-looping agent was restarted every ~1.5 s forever.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.cli_helpers import copy_app
from tests.clusters import Cluster
from tests.helpers import FIXTURES

CHAOS = FIXTURES / "runtime" / "chaos"
LIMIT = 2
OPTIONS = {"refork_limit": LIMIT, "refork_duration": 60_000, "health_interval": 300,
           "agent_restart_delay": 100}  # fmt: skip


CASES = [("app", "app_crashes", "0.3"), ("agent", "agent_crashes", "0.8")]


@pytest.mark.parametrize(("role", "switch", "lives"), CASES)
def test_crash_loop_is_bounded_then_exits_1(tmp_path, title, port, role, switch, lives):
    app = copy_app(CHAOS, tmp_path)
    (app / switch).write_text(lives)
    started = time.monotonic()
    cluster = Cluster(app, title, port, workers=1, **OPTIONS).start(wait=False)
    try:
        code, out, _ = cluster.wait(timeout=40)
    finally:
        if cluster.proc is not None and cluster.proc.poll() is None:
            cluster.proc.kill()
    elapsed = time.monotonic() - started
    deaths = len(re.findall(rf"{role}_worker#\d+:\d+ died \(", out))
    delays = [float(d) for d in re.findall(r" died \(.*?\), restart after ([\d.]+)s", out)]
    print(f"figures: {role} crash loop, refork limit {LIMIT}: {deaths} deaths, restart delays "
          f"{delays or 'none'}, exit {code} after {elapsed:.1f}s")  # fmt: skip
    assert f" {title} started on " in out  # it was a running cluster, not a failed start
    assert deaths == LIMIT + 1, out
    assert f"refork limit reached ({LIMIT} in 60s)" in out
    # No app worker left closes at once; no agent is the health check's (3 checks).
    assert ("no app worker left" if role == "app" else "for 3 checks in a row: exiting") in out
    assert code == 1
    assert elapsed < 30
    if role == "agent":
        assert delays == [0.1, 0.2], delays  # backoff from agent_restart_delay
