"""The master's control replies as the CLI reads them: for every `ControlAction`, the
master's own handler (runtime/master/control/commands.py, on the fake spawner of
tests/master_fakes.py) answers through a real `Request`, its frames cross a socketpair,
and the CLI's reader (eggscripts/client/control_client.py, eggscripts/cmd/reload.py) parses
them. Both ends build and read with runtime/contract/control.py; this proves they agree."""

from __future__ import annotations

import io
import socket
from collections.abc import Callable, Iterator
from typing import Any, get_type_hints

import pytest

from eggscripts.client import control_client
from eggscripts.cmd.reload import ReloadView
from runtime.contract import control
from runtime.contract.control import ControlAction
from runtime.contract.framing import encode
from runtime.master.control import commands
from runtime.master.control.connections import Request
from tests.master_fakes import FakeCluster, make_fixture  # noqa: F401 (the `make` fixture)


class Wire:
    """What a `Request` needs of its connection, writing the frames into a socketpair
    whose other end the CLI's `Connection` reads."""

    peer_pid = 4242
    closed = False
    current: Request | None = None

    def __init__(self) -> None:
        self.master_end, self.cli_end = socket.socketpair()

    def send(self, msg: dict[str, Any]) -> None:
        self.master_end.sendall(encode(msg))

    def request(self, c: FakeCluster, action: ControlAction, data: object) -> Request:
        request = Request(self, action, data)  # type: ignore[arg-type]
        commands.handlers(c.state, c.master, c.master.children)[action](request)
        return request

    def frames(self) -> list[dict[str, Any]]:
        """Everything the CLI reads, up to and including the final frame."""
        self.cli_end.setblocking(False)
        return list(control_client.Connection("fake", self.cli_end).replies(5))


@pytest.fixture
def wire() -> Iterator[Wire]:
    w = Wire()
    yield w
    w.master_end.close()
    w.cli_end.close()


def check_status(c: FakeCluster, wire: Wire) -> None:
    wire.request(c, ControlAction.STATUS, {})
    cluster = control_client.result(wire.frames()[-1])
    assert set(get_type_hints(control.StatusReply)) <= set(cluster)
    assert cluster["workers"] == 2 and cluster["state"] == "ready"
    for row in cluster["processes"]:
        assert set(get_type_hints(control.ProcessRow)) <= set(row)


def check_scale(c: FakeCluster, wire: Wire) -> None:
    wire.request(c, ControlAction.SCALE, {"delta": 1})
    assert control_client.result(wire.frames()[-1]) == {"previous": 2, "workers": 3}
    wire.request(c, ControlAction.SCALE, {"delta": 100_000})
    with pytest.raises(control_client.ControlFailed) as failed:
        control_client.result(wire.frames()[-1])
    assert failed.value.exit_code == 2
    assert failed.value.message.startswith("100003 is more workers than this machine")


def check_reload(c: FakeCluster, wire: Wire) -> None:
    wire.request(c, ControlAction.RELOAD, {"wait": True})
    c.step()
    c.swap_agent()
    for old in list(c.spawner.apps[:2]):
        c.swap_one_worker(old)
    out = io.StringIO()
    view = ReloadView("fake", out)
    frames = wire.frames()
    for frame in frames:
        view.show(frame)
    assert [f["action"] for f in frames] == ["accepted", "progress", "progress", "progress", "done"]
    view.conclude()
    text = out.getvalue()
    assert "1/2 replaced" in text and "2/2 replaced" in text and "fake reloaded (" in text
    assert "note:" not in text  # the master's version is the CLI's


def check_upgrade(c: FakeCluster, wire: Wire) -> None:
    """Refused at once while a reload runs (an upgrade that starts spawns a real master:
    tests/process/runtime/master/test_upgrade.py): one line, exit 1, read by the CLI."""
    wire.request(c, ControlAction.RELOAD, {"wait": False})
    assert control_client.result(wire.frames()[-1]) == {"waited": False}
    wire.request(c, ControlAction.UPGRADE, {})
    with pytest.raises(control_client.ControlFailed) as failed:
        control_client.result(wire.frames()[-1])
    assert failed.value.exit_code == 1
    assert failed.value.message == "cannot upgrade while the cluster is reloading"


CHECKS: dict[ControlAction, Callable[[FakeCluster, Wire], None]] = {
    ControlAction.STATUS: check_status,
    ControlAction.SCALE: check_scale,
    ControlAction.RELOAD: check_reload,
    ControlAction.UPGRADE: check_upgrade,
}


def test_every_action_is_checked() -> None:
    assert set(CHECKS) == set(ControlAction)


@pytest.mark.parametrize("action", list(ControlAction))
def test_the_cli_reads_what_the_master_answers(make: Any, wire: Wire, action: Any) -> None:
    CHECKS[action](make(workers=2).ready(), wire)


@pytest.mark.parametrize(
    ("action", "data"),
    [(ControlAction.SCALE, {"workers": "3"}), (ControlAction.RELOAD, {"timeout": -1})],
)
def test_a_malformed_request_is_one_usage_line(
    make: Any, wire: Wire, action: ControlAction, data: dict[str, Any]
) -> None:
    c = make(workers=2).ready()
    wire.request(c, action, data)
    with pytest.raises(control_client.ControlFailed) as failed:
        control_client.result(wire.frames()[-1])
    assert failed.value.exit_code == 2 and "\n" not in failed.value.message
    assert c.state.target_workers == 2 and c.state.reload is None
