"""The contract package (runtime/contract/) is what both ends of every channel read: one
frame limit (a real master's typed replies: tests/process/runtime/test_contract_status.py)."""

from __future__ import annotations

import pytest

from runtime.contract import framing


def test_one_frame_limit_for_every_reader() -> None:
    too_big = framing.HEADER.pack(framing.MAX_FRAME + 1)
    with pytest.raises(framing.ProtocolError, match=str(framing.MAX_FRAME)):
        framing.FrameDecoder().feed(too_big)
    with pytest.raises(ValueError, match="too large"):
        framing.encode({"action": "x", "data": "y" * framing.MAX_FRAME})
