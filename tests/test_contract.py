"""The contract package (runtime/contract/) is what both ends of every channel read: one
frame limit, and the typed replies are what a real master sends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import get_type_hints

import pytest

from runtime.contract import control, framing
from tests.cli_helpers import make_app, status_json


def test_one_frame_limit_for_every_reader() -> None:
    too_big = framing.HEADER.pack(framing.MAX_FRAME + 1)
    with pytest.raises(framing.ProtocolError, match=str(framing.MAX_FRAME)):
        framing.FrameDecoder().feed(too_big)
    with pytest.raises(ValueError, match="too large"):
        framing.encode({"action": "x", "data": "y" * framing.MAX_FRAME})


def test_a_real_status_reply_has_the_typed_keys(
    tmp_path: Path, started: Callable[..., str], env: dict[str, str], title: str
) -> None:
    started(make_app(tmp_path / "app", name="typed"), title, "--workers=1")
    cluster = status_json(title, env)
    assert set(get_type_hints(control.StatusReply)) <= set(cluster)
    for row in cluster["processes"]:
        assert set(get_type_hints(control.ProcessRow)) <= set(row)
