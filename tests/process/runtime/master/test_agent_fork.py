"""The agent is forked from the master (runtime/master/children/spawner.py) and keeps
nothing of it: no descriptor but stdio, its channel and the leader endpoint (no listener,
title lock, control socket, ready channel, log file or other child's channel), no blocked
signal, its own title; the new agent of a reload is forked the same way."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from tests.clusters import Cluster
from tests.helpers import FIXTURES, request, wait_until

SHOWCASE = FIXTURES.parent.parent / "examples" / "showcase"


def descriptors(pid: int) -> dict[int, str]:
    found = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            found[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
    return found


def assert_clean(master: int, agent: int) -> None:
    """Sockets and pipes are named by inode: one in both processes is one object. Files are
    named by path, so the agent's own log files look like the master's: only the master's
    own files are looked for."""
    theirs = set(descriptors(master).values())
    mine = descriptors(agent)
    shared = sorted(t for t in mine.values() if t.startswith(("socket:", "pipe:")) and t in theirs)
    assert len(shared) == 1 and shared[0].startswith("socket:"), shared  # the leader endpoint
    assert not [t for t in mine.values() if t.endswith((".lock", "/master.log"))], mine
    status = Path(f"/proc/{agent}/status").read_text()
    blocked = next(line for line in status.splitlines() if line.startswith("SigBlk:"))
    assert int(blocked.split()[1], 16) == 0, blocked
    title = Path(f"/proc/{agent}/cmdline").read_bytes().split(b"\0")[0]
    assert title.startswith(b"eggscripts-agent "), title


def test_the_agent_keeps_nothing_of_the_master_and_a_reload_forks_it_clean(
    title: str, port: int
) -> None:
    with Cluster(SHOWCASE, title, port, workers=1) as cluster:
        assert cluster.proc is not None
        master = cluster.proc.pid
        (agent,) = cluster.processes()["agent"]
        assert agent.ppid() == master
        assert_clean(master, agent.pid)
        cluster.signal(signal.SIGHUP)  # a rolling reload replaces the agent first

        def new_agent() -> int | None:
            agents = [p.pid for p in cluster.processes()["agent"] if p.pid != agent.pid]
            return agents[0] if agents else None

        wait_until(lambda: new_agent() is not None, timeout=20, interval=0.05)
        renewed = new_agent()
        assert renewed is not None
        wait_until(lambda: request(port).status == 200, timeout=10)
        assert_clean(master, renewed)
