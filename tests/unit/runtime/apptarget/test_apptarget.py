"""Interface detection and the lifespan driver, in-process (the daemons in
tests/process/runtime/apptarget/test_asgi_*.py show the same end to end)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.apptarget.interface import detect
from runtime.apptarget.lifespan import Lifespan
from runtime.process.errors import StartupError


def test_detection_is_right_for_each_framework() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(ROOT_URLCONF=[], ALLOWED_HOSTS=["*"])
    django.setup()
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler
    from fastapi import FastAPI
    from flask import Flask
    from starlette.applications import Starlette

    assert detect(FastAPI(), "auto", "t") == "asgi"
    assert detect(Starlette(), "auto", "t") == "asgi"
    assert detect(ASGIHandler(), "auto", "t") == "asgi"
    assert detect(WSGIHandler(), "auto", "t") == "wsgi"
    assert detect(Flask(__name__), "auto", "t") == "wsgi"

    async def raw(scope: Any, receive: Any, send: Any) -> None: ...

    def pep3333(environ: Any, start_response: Any) -> list[bytes]:
        return []

    assert (detect(raw, "auto", "t"), detect(pep3333, "auto", "t")) == ("asgi", "wsgi")
    assert detect(pep3333, "asgi", "t") == "asgi"  # an explicit --interface wins


def test_an_ambiguous_callable_asks_for_interface() -> None:
    with pytest.raises(StartupError, match="pass --interface=asgi or --interface=wsgi"):
        detect(lambda *args: None, "auto", "m:app")


def run_lifespan(app: Any, mode: str) -> tuple[Lifespan, BaseException | None]:
    async def go() -> tuple[Lifespan, BaseException | None]:
        lifespan = Lifespan(app, mode, "/nowhere")
        try:
            await lifespan.startup()
        except StartupError as exc:
            return lifespan, exc
        await lifespan.shutdown(1.0)
        return lifespan, None

    return asyncio.run(go())


def test_lifespan_modes() -> None:
    async def unsupported(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("only http")

    assert run_lifespan(unsupported, "auto")[1] is None  # auto: taken as unsupported
    error = run_lifespan(unsupported, "on")[1]
    assert "lifespan startup failed: " in str(error) and "ValueError: only http" in str(error)

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "Traceback...\nOSError: no db"})

    assert str(run_lifespan(failing, "auto")[1]).endswith("OSError: no db")

    async def stateful(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        scope["state"]["db"] = "pool"
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    lifespan, error = run_lifespan(stateful, "on")
    assert error is None and lifespan.state == {"db": "pool"} and not lifespan.running
