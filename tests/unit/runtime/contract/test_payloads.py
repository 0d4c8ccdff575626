"""The payloads children send the master (runtime/contract/payloads.py): parsed once, on
arrival; a payload of the wrong shape is one warning and changes nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from runtime.contract.messages import Action
from runtime.contract.payloads import (
    MalformedPayload,
    parse_agent_start,
    parse_app_start,
    parse_disconnect,
    parse_heartbeat,
    parse_startup_error,
)
from tests.master_fakes import make_fixture  # noqa: F401 (the `make` fixture)


def test_agent_start_keeps_the_listen_keys_and_the_dirs() -> None:
    data = {
        "pid": 7,
        "listen": {"port": "7002", "hostname": "::1", "mode": 0o660, "https": 1, "x": 1},
        "log_dir": "/l",
        "run_dir": "/r",
    }
    assert parse_agent_start(data) == {
        "pid": 7,
        "listen": {"port": 7002, "hostname": "::1", "mode": 0o660, "https": True},
        "log_dir": "/l",
        "run_dir": "/r",
    }
    assert parse_agent_start({"pid": 7}) == {"pid": 7, "listen": {}}


@pytest.mark.parametrize(
    ("parse", "data"),
    [
        (parse_agent_start, None),
        (parse_agent_start, {"pid": True, "listen": {}}),
        (parse_agent_start, {"pid": 1, "listen": []}),
        (parse_agent_start, {"pid": 1, "listen": {"port": "http"}}),
        (parse_agent_start, {"pid": 1, "log_dir": 3}),
        (parse_app_start, {"pid": 1}),
        (parse_startup_error, {"message": None}),
        (parse_disconnect, {"reason": "boom"}),
        (parse_heartbeat, [1]),
        (parse_heartbeat, {"requests": "many"}),
    ],
)
def test_a_payload_of_the_wrong_shape_is_refused(parse: Any, data: Any) -> None:
    with pytest.raises(MalformedPayload):
        parse(data)


def test_heartbeat_carries_counters_or_nothing() -> None:
    assert parse_heartbeat(None) is None
    assert parse_heartbeat({"requests": 3, "saturated": False}) == {
        "requests": 3,
        "saturated": False,
    }


def test_the_master_warns_once_and_ignores_a_malformed_payload(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    c = make(workers=1).ready()
    worker = c.spawner.apps[0]
    handle = next(h for h in c.master.children.apps() if h.pid == worker.pid)
    stats = dict(handle.stats)
    with caplog.at_level(logging.WARNING):
        worker.send(Action.HEARTBEAT, {"requests": "many"})
        worker.send(Action.DISCONNECT, "boom")
        c.step()
    warnings = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert warnings == [
        f"malformed heartbeat from {handle.label}, ignored: counter 'requests' is 'many'",
        f"malformed disconnect from {handle.label}, ignored: expected an object, got str",
    ]
    assert handle.stats == stats and handle.state.value == "serving"
