"""An egg-style app with what docs/ASGI.md adds to it: streamed bodies (async iterator, SSE,
file path), WebSocket routes, a Starlette app under `router.mount` (root_path, its own
streaming, WebSockets and lifespan state), and a refused unhandled upgrade. Also: a JSON
body nested 1000 deep is a 400, not a 500 (issue 9, defect 7)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.asgi_helpers import Daemon, best_first_chunk, shared_daemon, ws_echo, ws_status
from tests.helpers import FIXTURES, request


@pytest.fixture(scope="module")
def egg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = "--root-path=/egg"  # a proxy strips /egg: the app routes below it
    with shared_daemon(tmp_path_factory, FIXTURES / "egg_asgi", "egg-asgi", root) as d:
        yield d


def test_stream_body_first_byte_is_not_buffered(egg: Daemon) -> None:
    first, total = best_first_chunk(egg.port, "/stream")
    assert total >= 0.9
    assert first < 0.1, f"first byte after {first:.3f}s"


def test_server_sent_events_and_file_bodies(egg: Daemon) -> None:
    events = request(egg.port, "/events")
    assert events.headers["content-type"].startswith("text/event-stream")
    assert events.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
    data = request(egg.port, "/file")
    assert data.status == 200 and len(data.body) == 300_000
    assert data.headers["content-length"] == "300000"
    assert (egg.base_dir / "app" / "data.bin").read_bytes() == data.body
    opened = request(egg.port, "/fileobj")
    assert opened.body == data.body and opened.headers["content-type"] == "application/x-test"


def test_websocket_route(egg: Daemon) -> None:
    assert ws_echo(f"ws://127.0.0.1:{egg.port}/ws", ["x", "y"]) == ["egg:x", "egg:y"]


def test_mounted_asgi_app_gets_root_path_and_its_lifespan_state(egg: Daemon) -> None:
    got = request(egg.port, "/sub/").json()
    assert got == {"root_path": "/egg/sub", "path": "/egg/sub/", "mark": "mounted-lifespan"}
    assert request(egg.port, "/").json()["hello"] == "egg"  # the egg app still routes


def test_mounted_app_streams_and_serves_websockets(egg: Daemon) -> None:
    first, total = best_first_chunk(egg.port, "/sub/stream")
    assert total >= 0.9
    assert first < 0.1, f"first byte after {first:.3f}s"
    assert ws_echo(f"ws://127.0.0.1:{egg.port}/sub/ws", ["m"]) == ["sub:m"]


def test_unhandled_upgrade_is_refused_not_404(egg: Daemon) -> None:
    assert ws_status(f"ws://127.0.0.1:{egg.port}/nowhere") == 403


def test_json_nested_1000_deep_is_400(egg: Daemon) -> None:
    body = "[" * 1000 + "]" * 1000
    resp = request(egg.port, "/json", "POST", body, {"Content-Type": "application/json"})
    assert resp.status == 400
    log = egg.log("common-error.log")
    assert "RecursionError" not in (log.read_text() if log.exists() else "")
