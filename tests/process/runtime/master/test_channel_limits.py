"""Nobody starves the master's channels (docs/INTERNALS.md §4 "Limits", docs/MESSENGER.md):
real daemons, real sockets, the real CLI.

- idle control connections neither lock `scale` / `reload` out nor stay open for ever;
- a client pipelining `status` requests without reading the replies cannot grow the master;
- a worker flooding `send_to_agent` at a stopped agent cannot grow itself (nor the master)
  beyond the channels' bounds: the messages that do not fit are dropped and logged.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from runtime.app.messenger import MAX_UNSENT
from runtime.contract import paths
from runtime.contract.framing import encode
from runtime.master.control.connections import IDLE_TIMEOUT, MAX_CONNECTIONS
from tests.cli_helpers import master_of, run_cli
from tests.helpers import FIXTURES, cluster_processes, free_port, request, wait_until
from tests.unit.runtime.master.test_control_channel import gone

MESSENGER = FIXTURES / "messenger"
MiB = 1024 * 1024


def rss(proc: psutil.Process) -> int:
    return int(proc.memory_info().rss)


@contextlib.contextmanager
def idle_connections(title: str, count: int) -> Iterator[list[socket.socket]]:
    path = paths.socket_path(title, paths.find_dir().directory)
    conns = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            conns.append(sock)
        yield conns
    finally:
        for sock in conns:
            sock.close()


def test_idle_control_connections_neither_block_commands_nor_stay(
    started: Any, env: dict[str, str], title: str
) -> None:
    started(MESSENGER, title)
    with idle_connections(title, MAX_CONNECTIONS + 8) as conns:
        time.sleep(0.3)
        t0 = time.monotonic()
        scale = run_cli("scale", f"--title={title}", "3", env=env, timeout=30)
        assert scale.returncode == 0, scale.stdout + scale.stderr
        reload = run_cli("reload", f"--title={title}", env=env, timeout=60)
        assert reload.returncode == 0, reload.stdout + reload.stderr
        assert time.monotonic() - t0 < 30
        # The newcomers took the slots of the longest-idle connections...
        assert sum(gone(c) for c in conns) >= 8 + 1
        # ... and the idle timeout closes every one left.
        wait_until(lambda: all(gone(c) for c in conns), IDLE_TIMEOUT + 5, 0.2)


def test_unread_status_replies_do_not_grow_the_master(
    started: Any, env: dict[str, str], title: str
) -> None:
    started(MESSENGER, title)
    master = master_of(title)
    assert run_cli("status", f"--title={title}", env=env).returncode == 0  # warmed up
    before = rss(master)
    peak = before
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(paths.socket_path(title, paths.find_dir().directory))
    sock.settimeout(IDLE_TIMEOUT + 10)
    request_frame = encode({"action": "status", "data": {}})
    sent, t0 = 0, time.monotonic()
    try:
        for sent in range(20_000):  # ~26 MB of replies nobody reads
            sock.sendall(request_frame)
            if sent % 500 == 0:
                peak = max(peak, rss(master))
    except OSError:  # closed by the master: it stopped reading, then timed us out
        pass
    finally:
        sock.close()
    peak = max(peak, rss(master))
    assert peak - before < 8 * MiB, (sent, before, peak)
    assert time.monotonic() - t0 < IDLE_TIMEOUT + 10
    # Everyone else is still served.
    scale = run_cli("scale", f"--title={title}", "3", env=env, timeout=30)
    assert scale.returncode == 0, scale.stdout + scale.stderr


def test_send_to_agent_flood_to_a_stopped_agent_stays_bounded(
    started: Any, env: dict[str, str], title: str
) -> None:
    port = free_port()
    started(MESSENGER, title, port=port)
    procs = cluster_processes(title)
    master, agent = procs["master"][0], procs["agent"][0]
    apps = {p.pid: rss(p) for p in procs["app"]}
    master_before = rss(master)
    agent.suspend()
    try:
        # 200 MiB, one message of 1 MiB per loop iteration (a worker sending per request).
        answer = request(port, "/flood?n=200&size=1048576", timeout=60).json()
        worker = psutil.Process(answer["pid"])
        worker_peak, master_peak = rss(worker), rss(master)
    finally:
        agent.resume()
    growth = worker_peak - apps[worker.pid]
    assert growth < MAX_UNSENT + 16 * MiB, growth / MiB
    assert master_peak - master_before < 2 * MAX_UNSENT + 16 * MiB, master_peak / MiB
    logs = "".join(p.read_text() for p in Path(env["HOME"], "logs").rglob("*.log"))
    assert "messages were dropped" in logs or "dropping new messages" in logs
