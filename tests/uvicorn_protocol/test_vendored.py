"""The vendored tests beside this file are those of the uvicorn we run."""

from __future__ import annotations

import uvicorn

from tests.uvicorn_protocol.adapter import VENDORED_FROM


def test_vendored_from_the_installed_uvicorn() -> None:
    assert uvicorn.__version__ == VENDORED_FROM, (
        f"tests/uvicorn_protocol/ holds uvicorn {VENDORED_FROM}'s protocol tests but uvicorn "
        f"{uvicorn.__version__} is installed: re-vendor them (tests/uvicorn_protocol/README.md)"
    )
