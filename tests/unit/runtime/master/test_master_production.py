"""The production wiring on the fake spawner (tests/master_fakes.py): shutdown delay,
readiness, systemd notifications, SIGUSR1."""

from __future__ import annotations

import os
import signal

import pytest

from runtime.contract.exitcodes import ExitCode
from tests.master_fakes import FakeCluster, make_fixture  # noqa: F401 (the `make` fixture)

SIGKILL, SIGTERM = signal.SIGKILL, signal.SIGTERM


# -- production: shutdown delay, readiness, systemd, SIGUSR1 (runtime/master/production/wiring.py)
def readiness(c: FakeCluster) -> tuple[bool, str]:
    p = c.master.production
    assert p.sup is not None
    return p.sup.snapshot(p.samples()).readiness()


def test_shutdown_delay_keeps_serving_not_ready_then_drains(make) -> None:
    c = make(shutdown_delay=2000).ready()
    assert readiness(c) == (True, "ready")
    c.signal(signal.SIGTERM)
    assert readiness(c) == (False, "draining")
    assert all(app.signals == [] for app in c.spawner.apps)  # still serving
    assert c.phase == "draining"
    c.advance(1.9)
    assert all(app.signals == [] for app in c.spawner.apps)
    c.advance(0.2)
    assert c.phase == "stopping"
    assert all(app.signals == [SIGTERM] for app in c.spawner.apps)


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_during_the_delay_drains_at_once(make, second) -> None:
    c = make(shutdown_delay=20000, grace_period=60).ready()
    c.signal(signal.SIGTERM)
    c.signal(second)
    assert c.phase == "stopping" and c.state.close_code == ExitCode.OK
    assert all(app.signals == [SIGTERM] for app in c.spawner.apps)  # drain, not SIGKILL


def test_no_delay_before_ready_or_on_ctrl_c(make) -> None:
    c = make(shutdown_delay=2000)
    c.signal(signal.SIGTERM)  # still starting: nothing to keep serving
    assert c.phase == "stopping"
    d = make(shutdown_delay=2000).ready()
    d.signal(signal.SIGINT)  # a person at a terminal, not a load balancer
    assert d.phase == "stopping"


def test_readiness_needs_the_agent_and_a_serving_worker(make) -> None:
    c = make(workers=1)
    assert readiness(c) == (False, "starting")
    c.ready()
    assert readiness(c) == (True, "ready")
    c.spawner.exit(c.spawner.apps[0], 1)
    c.step()
    assert readiness(c) == (False, "no app worker serving")
    c.spawner.apps[0].started()
    c.step()
    c.spawner.exit(c.spawner.agent, sig=SIGKILL)
    c.step()
    assert readiness(c) == (False, "agent down")
    sample = {s.id: s for s in c.master.production.samples() if s.role == "app"}[1]
    assert sample.restarts == {"exit code 1 (ERROR)": 1}


def test_systemd_hears_progress_ready_after_the_last_worker_and_watchdog(
    make, tmp_path, monkeypatch
) -> None:
    import socket as socket_module

    systemd = socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_DGRAM)
    systemd.bind(str(tmp_path / "notify"))
    systemd.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")

    def heard() -> list[str]:
        out = []
        while True:
            try:
                out.append(systemd.recv(4096).decode())
            except BlockingIOError:
                return out

    try:
        c = make(workers=2)
        assert "NOTIFY_SOCKET" not in os.environ  # the agent must not inherit it
        assert heard() == ["WATCHDOG=1"]
        c.spawner.agent.started(listen={})
        c.step()
        first, second = c.spawner.apps
        first.started()
        c.step()
        got = heard()
        assert not any("READY=1" in m for m in got)
        assert got[-1].endswith("STATUS=1/2 workers ready")
        second.started()
        c.step()
        assert heard()[-1].startswith("READY=1\nSTATUS=2 workers serving")
        c.advance(1.0)
        c.advance(1.0)
        assert heard() == ["WATCHDOG=1", "WATCHDOG=1"]
        c.signal(signal.SIGTERM)
        assert heard()[0] == "STOPPING=1\nSTATUS=draining"
    finally:
        systemd.close()


def test_sigusr1_is_forwarded_to_every_child_past_boot(make) -> None:
    c = make(workers=2)
    c.spawner.agent.started(listen={})
    c.step()
    first, second = c.spawner.apps
    first.started()
    c.step()
    c.signal(signal.SIGUSR1)
    assert c.spawner.agent.signals == [signal.SIGUSR1] and first.signals == [signal.SIGUSR1]
    assert second.signals == []  # still booting: its handler may not exist yet


def test_no_reload_or_scale_while_the_shutdown_delay_runs(make) -> None:
    c = make(shutdown_delay=2000).ready()
    c.signal(signal.SIGTERM)
    assert c.phase == "draining"
    assert c.master.begin_reload() == "cannot reload while the cluster is draining"
