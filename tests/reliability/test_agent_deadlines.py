"""The agent's kill deadline (issue 9, defect 4) holds however the close began.

Before: closing armed the agent's SIGKILL deadline and cancelled it in the same pass, so a
foreground master whose agent hung at boot was still up 40 s after a 3 s startup timeout,
and an agent blocking in `before_close` after "no app worker left" kept it up for good.
"""

from __future__ import annotations

import signal
import time

from tests.cli_helpers import copy_app
from tests.clusters import Cluster
from tests.helpers import FIXTURES, wait_until

CHAOS = FIXTURES / "runtime" / "chaos"


def test_agent_hung_at_boot_is_killed_at_startup_plus_kill_agent_timeout(tmp_path, title, port):
    app = copy_app(CHAOS, tmp_path)
    (app / "agent_hangs_at_boot").touch()
    options = {"startup_timeout": 1500, "kill_agent_timeout": 500}
    started = time.monotonic()
    cluster = Cluster(app, title, port, workers=1, **options).start(wait=False)
    try:
        code, out, _ = cluster.wait(timeout=20)
    finally:
        if cluster.proc is not None and cluster.proc.poll() is None:
            cluster.proc.kill()
    elapsed = time.monotonic() - started
    print(f"figures: agent hung at boot, startup 1.5s + kill_agent 0.5s: exit {code} after "
          f"{elapsed:.1f}s")  # fmt: skip
    assert code != 0
    assert "did not stop in time: SIGKILL" in out, out
    assert elapsed < 10, elapsed  # ~2 s plus interpreter start-ups, not 40 s
    assert not any(cluster.processes().values())


def test_agent_blocking_in_before_close_after_the_last_worker_died_is_killed(tmp_path, title, port):
    """env local: no refork, so one dead worker is "no app worker left"; the agent's
    `before_close` then sleeps 120 s and is SIGKILLed at kill_agent_timeout."""
    app = copy_app(CHAOS, tmp_path)
    (app / "agent_hangs_in_before_close").touch()
    with Cluster(app, title, port, workers=1, env="local", kill_agent_timeout=1000) as cluster:
        cluster.processes()["app"][0].send_signal(signal.SIGKILL)
        wait_until(lambda: "no app worker left" in cluster.output()[0], timeout=5)
        closing = time.monotonic()
        try:
            code, out, _ = cluster.wait(timeout=15)
        finally:
            if cluster.proc is not None and cluster.proc.poll() is None:
                cluster.proc.kill()
        elapsed = time.monotonic() - closing
    print(f"figures: agent blocked in before_close, kill_agent 1.0s: exit {code} "
          f"{elapsed:.1f}s after 'no app worker left'")  # fmt: skip
    assert code == 1
    assert "did not stop in time: SIGKILL" in out, out
    assert elapsed < 6, elapsed
