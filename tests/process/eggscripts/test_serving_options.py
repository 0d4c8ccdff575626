"""`start --log-level`, `--uds`, `--graceful-timeout`, `--server-header/--no-server-header`
and `--date-header/--no-date-header` on real clusters (docs/CLI.md, `eggscripts start`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.cli_helpers import run_cli
from tests.helpers import UnixHTTPConnection, request, try_request, wait_until

PROBE = """
import asyncio
import logging

log = logging.getLogger("probe")


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/log":
        log.debug("probe-debug-line")
        log.warning("probe-warning-line")
    if scope["path"] == "/slow":
        await asyncio.sleep(10)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""
Start = Callable[..., str]


def probe_app(tmp_path: Path) -> Path:
    app = tmp_path / "probe_app"
    app.mkdir()
    (app / "probe.py").write_text(PROBE)
    return app


def logged(home: Path, marker: str) -> bool:
    return any(marker in p.read_text() for p in (home / "logs").rglob("*.log"))


def test_headers_off_and_on(tmp_path: Path, title: str, port: int, started: Start) -> None:
    started(probe_app(tmp_path), title, "--app=probe:app", "--no-server-header", port=port)
    headers = request(port, "/").headers
    assert "server" not in headers
    assert "date" in headers  # the default stays on


def test_date_header_off(tmp_path: Path, title: str, port: int, started: Start) -> None:
    started(probe_app(tmp_path), title, "--app=probe:app", "--no-date-header", port=port)
    headers = request(port, "/").headers
    assert "date" not in headers
    assert headers["server"] == "uvicorn"


def test_log_level_debug_reaches_the_workers(
    tmp_path: Path, title: str, port: int, started: Start, env: dict[str, str]
) -> None:
    started(probe_app(tmp_path), title, "--app=probe:app", "--log-level=debug", port=port)
    assert request(port, "/log").status == 200
    home = Path(env["HOME"])
    assert wait_until(lambda: logged(home, "probe-debug-line"))


def test_log_level_default_is_info(
    tmp_path: Path, title: str, port: int, started: Start, env: dict[str, str]
) -> None:
    started(probe_app(tmp_path), title, "--app=probe:app", port=port)
    assert request(port, "/log").status == 200
    home = Path(env["HOME"])
    assert wait_until(lambda: logged(home, "probe-warning-line"))
    assert not logged(home, "probe-debug-line")


def test_uds_listens_on_a_unix_socket_instead_of_the_port(
    tmp_path: Path, title: str, port: int, started: Start
) -> None:
    app = probe_app(tmp_path)
    started(app, title, "--app=probe:app", "--uds=web.sock", port=port)
    conn = UnixHTTPConnection(str(app / "web.sock"))
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"ok"
    conn.close()
    assert try_request(port) is None  # --uds wins over --port


def test_graceful_timeout_bounds_the_drain(
    tmp_path: Path, title: str, port: int, started: Start, env: dict[str, str]
) -> None:
    started(probe_app(tmp_path), title, "--app=probe:app", "--graceful-timeout=1s", port=port)
    slow = threading.Thread(target=try_request, args=(port, "/slow", 15.0), daemon=True)
    slow.start()
    time.sleep(0.5)
    began = time.monotonic()
    result = run_cli("stop", f"--title={title}", env=env)
    took = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    assert took < 4.0, f"stop took {took:.1f}s with --graceful-timeout=1s (default 5 s)"


def test_graceful_timeout_must_fit_the_grace_period(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli(
        "start", "--daemon", "--app=probe:app", "--graceful-timeout=30s", "--grace-period=30",
        str(probe_app(tmp_path)), env=env,
    )  # fmt: skip
    assert result.returncode != 0
    assert "app drain (--graceful-timeout) 30000 ms" in result.stderr
    assert "--grace-period 30 s" in result.stderr
