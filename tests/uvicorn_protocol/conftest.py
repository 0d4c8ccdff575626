"""Adapter that runs uvicorn's own HTTP protocol tests against our protocol class.

`test_http.py` and `response.py` here are uvicorn's `tests/protocols/test_http.py` and
`tests/response.py`, vendored unchanged from the uvicorn sdist of `adapter.VENDORED_FROM` (only the
import of `Response` points at this directory). uvicorn is BSD-3-Clause licensed; its
license is `LICENSE.md` beside them. README.md says how to re-vendor after an upgrade.

uvicorn parametrizes its tests over its protocol classes; here `http_protocol_cls` is
ours (`adapter.HttpToolsProtocol`), and so is what the module's httptools-only tests name
`HttpToolsProtocol` or start a real uvicorn Server with (`http="httptools"`). Tests
of uvicorn's h11 protocol alone are deselected (we never serve with it). The expected
differences are our documented limits: they are xfail below, each with its reason, and
listed in docs/ASGI.md ("uvicorn's protocol tests").
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.config import HTTP_PROTOCOLS, LOGGING_CONFIG

from tests.uvicorn_protocol import adapter
from tests.uvicorn_protocol.adapter import HttpToolsProtocol

# uvicorn's tests that exercise only its h11 protocol class.
H11_ONLY = {
    "test_huge_headers_h11protocol_failure",
    "test_huge_headers_h11protocol_failure_with_setting",
    "test_huge_headers_h11_max_incomplete",
}

# Where our protocol deliberately differs from uvicorn's (docs/ASGI.md): test -> reason.
EXPECTED_DIFFERENCES = {
    "test_huge_headers_httptools": "--max-header-size: a head over 64 KiB gets 431",
    "test_huge_headers_httptools_will_pass": "--max-header-size: a head over 64 KiB gets 431",
    "test_shutdown_during_idle": "a draining worker keeps an idle connection open for 1 s "
    "(runtime/worker/draining.py) so a request already on its way is served, not lost",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def http_protocol_cls() -> type[Any]:
    return HttpToolsProtocol


@pytest.fixture(
    params=[
        pytest.param(
            "wsproto",
            marks=pytest.mark.skipif(
                not importlib.util.find_spec("wsproto"), reason="wsproto not installed."
            ),
        ),
        "websockets-sansio",
    ]
)
def ws_protocol_cls(request: pytest.FixtureRequest) -> type[Any]:
    from uvicorn.config import WS_PROTOCOLS
    from uvicorn.importer import import_from_string

    return import_from_string(WS_PROTOCOLS[request.param])  # type: ignore[no-any-return]


@pytest.fixture
def unused_tcp_port() -> int:
    from tests.helpers import free_port

    return free_port()


@pytest.fixture(autouse=True)
def our_protocol_everywhere(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """What the httptools-only tests name `HttpToolsProtocol`, and uvicorn's `httptools`;
    plus two things uvicorn's own conftest and test doubles would need for our class:
    `uvicorn` logs propagating to caplog, and a `time()` on the mock event loop (our body
    timeout reads the loop's clock)."""
    module = request.module
    monkeypatch.setattr(module, "HttpToolsProtocol", HttpToolsProtocol, raising=False)
    monkeypatch.setitem(HTTP_PROTOCOLS, "httptools", f"{adapter.__name__}:HttpToolsProtocol")
    monkeypatch.setitem(LOGGING_CONFIG["loggers"]["uvicorn"], "propagate", True)
    if hasattr(module, "MockLoop"):
        monkeypatch.setattr(module.MockLoop, "time", _clock, raising=False)
    yield


def _clock(loop: Any) -> float:
    return time.monotonic()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, dropped = [], []
    for item in items:
        if "uvicorn_protocol" not in item.nodeid:
            keep.append(item)
            continue
        name = item.name.partition("[")[0]
        if name in H11_ONLY:
            dropped.append(item)
            continue
        reason = EXPECTED_DIFFERENCES.get(name) or EXPECTED_DIFFERENCES.get(item.name)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
        keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
