"""The upgrade's decisions on the fake spawner (tests/master_fakes.py): READY -> UPGRADING
-> STOPPING once the new master is ready, back to READY when it fails, the handover pipe
closed only when the old master lets go (or once a failed new master is gone), MAINPID=
for systemd. The new master is a fake `Popen` the test speaks for on its ready channel;
tests/process/runtime/master/test_upgrade.py runs the real thing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from runtime.contract.exitcodes import ExitCode
from runtime.contract.framing import write_frame_blocking
from runtime.contract.messages import Action, Message, Role
from runtime.master.children.states import InvalidTransition, Phase, check_phase_transition
from runtime.master.lifecycle import upgrade
from tests.master_fakes import FakeCluster, make_fixture  # noqa: F401 (the `make` fixture)

P = Phase
NEW_PID = 4242


class FakeNewMaster:
    """Stands in for `subprocess.Popen` of the new master: keeps its ends of the pipes."""

    started: list[FakeNewMaster] = []

    def __init__(self, argv: list[str], pass_fds: Any, env: dict[str, str], cwd: str) -> None:
        self.options = json.loads(argv[-1])
        self.env = env
        self.ready = os.dup(self.options["ready_fd"])
        self.handover = os.dup(self.options["handover_fd"])
        os.set_blocking(self.handover, False)
        self.pid = NEW_PID
        self.returncode: int | None = None
        self.signals: list[int] = []
        FakeNewMaster.started.append(self)

    def poll(self) -> int | None:
        return self.returncode

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)

    def kill(self) -> None:
        self.signals.append(signal.SIGKILL)

    def say(self, action: str, data: Any = None) -> None:
        write_frame_blocking(self.ready, Message(action, data, Role.MASTER, Role.PARENT).to_wire())

    def released(self) -> bool:
        """Whether the old master closed the handover pipe (end of file)."""
        try:
            return os.read(self.handover, 1) == b""
        except BlockingIOError:
            return False

    def close(self) -> None:
        for fd in (self.ready, self.handover):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def new_master(monkeypatch: pytest.MonkeyPatch) -> Any:
    FakeNewMaster.started = []
    monkeypatch.setattr(upgrade.subprocess, "Popen", FakeNewMaster)
    yield lambda: FakeNewMaster.started[-1]
    for fake in FakeNewMaster.started:
        fake.close()


class Reports:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        self.events.append((event, data))

    @property
    def final(self) -> tuple[str, dict[str, Any]]:
        return self.events[-1]


def upgrading(c: FakeCluster, new_master: Any) -> tuple[FakeNewMaster, Reports]:
    reports = Reports()
    assert c.master.begin_upgrade(reports) is None
    c.step()
    return new_master(), reports


def test_the_phase_table_has_upgrading() -> None:
    assert str(P.UPGRADING) == "upgrading" and P.UPGRADING.running
    check_phase_transition(P.READY, P.UPGRADING)
    for bad in [(P.UPGRADING, P.RELOADING), (P.RELOADING, P.UPGRADING), (P.DRAINING, P.UPGRADING)]:
        with pytest.raises(InvalidTransition):
            check_phase_transition(*bad)


def test_the_new_master_gets_the_same_socket_and_the_old_one_hands_over(
    make: Any, new_master: Any
) -> None:
    c = make(workers=2).ready()
    listener = c.state.listener
    fake, reports = upgrading(c, new_master)
    assert c.state.phase is P.UPGRADING
    assert fake.options["listen_fd"] == listener.fileno() and fake.options["port"] == 0
    assert fake.options["title"] == "fake" and fake.options["log_dir"] is None  # as launched
    assert c.master.begin_reload() == "cannot reload while the cluster is upgrading"
    assert c.master.begin_upgrade() == "cannot upgrade while the cluster is upgrading"
    fake.say(Action.AGENT_START, {"pid": 1})
    fake.say(Action.APP_START, {"pid": 2, "ready": 1, "total": 2})
    c.step()
    assert [e for e, _ in reports.events] == ["progress", "progress"]
    assert not fake.released()  # serving beside us, not the owner yet
    fake.say(Action.EGG_READY, {"pid": NEW_PID, "version": "9.9.9", "workers": [5, 6]})
    c.step()
    assert reports.final == (
        "done",
        {"pid": NEW_PID, "old_pid": os.getpid(), "version": "9.9.9", "workers": [5, 6],
         "agent": None},
    )  # fmt: skip
    assert fake.released()
    assert c.state.phase is P.STOPPING  # drains: the old workers are told to stop
    assert all(signal.SIGTERM in app.signals for app in c.spawner.apps)
    assert fake.signals == []
    for app in list(c.spawner.apps):
        c.spawner.exit(app, 0)
    c.step()
    c.spawner.exit(c.spawner.agent, 0)
    c.step()
    assert c.state.phase is P.STOPPED and c.master.exit_code == ExitCode.OK


def test_a_failing_new_master_leaves_the_old_one_ready_and_never_takes_over(
    make: Any, new_master: Any
) -> None:
    c = make(workers=1).ready()
    fake, reports = upgrading(c, new_master)
    fake.say(Action.STARTUP_ERROR, {"message": "app/router.py:1: SyntaxError", "code": 4})
    c.step()
    assert reports.final == ("fail", {"error": "app/router.py:1: SyntaxError", "exit": 4})
    assert c.state.phase is P.READY and c.state.upgrade is None
    assert fake.signals == [signal.SIGTERM]
    c.advance(0.5)
    assert not fake.released()  # still alive: it must not see the end of file
    fake.returncode = 4
    c.advance(0.5)
    assert fake.released()
    assert c.master.begin_upgrade() is None  # and it can be tried again


def test_a_new_master_that_dies_silently_or_hangs_fails_the_upgrade(
    make: Any, new_master: Any
) -> None:
    c = make(workers=1, startup_timeout=2000).ready()
    fake, reports = upgrading(c, new_master)
    os.close(fake.ready)
    c.step()
    assert reports.final[1]["error"] == "the new master exited before it was ready (see the log)"
    assert c.state.phase is P.READY
    fake.returncode = 1
    fake, reports = upgrading(c, new_master)
    c.advance(2 + upgrade.ANSWER_GRACE + 0.1)
    assert reports.final == (
        "fail",
        {"error": "the new master did not become ready within 2000 ms (startup timeout)",
         "exit": ExitCode.ERROR},
    )  # fmt: skip
    assert fake.signals == [signal.SIGTERM]
    c.advance(11.0)  # kill timeouts + 1 s: it ignored SIGTERM
    assert fake.signals == [signal.SIGTERM, signal.SIGKILL]


def test_stopping_while_upgrading_stops_the_new_master_too(make: Any, new_master: Any) -> None:
    c = make(workers=1).ready()
    fake, reports = upgrading(c, new_master)
    c.signal(signal.SIGTERM)
    assert c.state.phase is P.STOPPING
    assert reports.final[0] == "fail" and "cancelled" in reports.final[1]["error"]
    assert fake.signals == [signal.SIGTERM] and not fake.released()


def test_sigusr2_starts_the_upgrade_and_is_refused_unless_ready(make: Any, new_master: Any) -> None:
    c = make(workers=1)
    c.signal(signal.SIGUSR2)  # still starting: logged, nothing started
    assert FakeNewMaster.started == [] and c.state.phase is P.STARTING_AGENT
    c.ready()
    c.signal(signal.SIGUSR2)
    assert c.state.phase is P.UPGRADING and new_master().pid == NEW_PID


def test_systemd_hears_mainpid_and_the_new_master_gets_notify_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_master: Any
) -> None:
    path = str(tmp_path / "notify.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    c = FakeCluster(tmp_path, workers=1).ready()
    fake, _ = upgrading(c, new_master)
    assert fake.env["NOTIFY_SOCKET"] == path and fake.env["WATCHDOG_USEC"] == "4000000"
    fake.say(Action.EGG_READY, {"pid": NEW_PID})
    c.step()
    messages = []
    with contextlib.suppress(BlockingIOError):
        while True:
            messages.append(receiver.recv(4096).decode())
    at = [m.startswith(f"MAINPID={NEW_PID}\n") for m in messages].index(True)
    assert messages[at - 1].startswith("RELOADING=1\nMONOTONIC_USEC="), messages
    after = messages[at + 1 :]
    assert after == []  # silent from then on: its drain is no longer the service's
    receiver.close()


def test_the_new_master_owns_the_cluster_only_once_ready_and_let_go(make: Any) -> None:
    read_end, write_end = os.pipe()
    c = make(workers=1, handover_fd=read_end)
    successor = c.master.successor
    assert successor is not None
    os.close(write_end)  # the old master let go (or died) while we boot
    c.step()
    assert successor.released and not successor.owner
    c.ready()
    assert successor.owner


def test_a_new_master_that_fails_never_takes_over(make: Any) -> None:
    read_end, write_end = os.pipe()
    c = make(workers=1, handover_fd=read_end)
    c.spawner.exit(c.spawner.agent, 1)  # its start fails: it is closing
    c.step()
    os.close(write_end)
    c.step()
    assert c.master.successor is not None and not c.master.successor.owner


def test_the_cli_explains_a_master_that_predates_upgrades() -> None:
    import io

    from eggscripts.client import control_client
    from eggscripts.cmd.reload import UpgradeView

    view = UpgradeView("shop", io.StringIO())
    view.show({"action": "error", "data": {"message": "unknown control action 'upgrade'"},
               "exit": 2})  # fmt: skip
    with pytest.raises(control_client.ControlFailed) as failed:
        view.conclude()
    assert failed.value.exit_code == 2
    assert str(failed.value.message) == (
        "upgrade of shop failed: its master predates `reload --upgrade`: restart it once "
        "(stop, start); the running master keeps serving"
    )
