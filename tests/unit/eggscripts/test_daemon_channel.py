"""The ready channel's framing (docs/INTERNALS.md §1/§2) over a real pipe, including frames
split across reads, EOF and a broken frame."""

from __future__ import annotations

import os

import pytest

from runtime.contract import readychannel
from runtime.contract.framing import FrameReader, ProtocolError, encode


def test_frames_split_across_writes_and_eof() -> None:
    read_fd, write_fd = os.pipe()
    reader = FrameReader(read_fd)
    try:
        first = encode({"action": "agent-start", "data": {"pid": 1}})
        second = encode({"action": "egg-ready", "data": {"pid": 2, "url": "http://x:1"}})
        os.write(write_fd, first + second[:3])
        assert reader.read() == [{"action": "agent-start", "data": {"pid": 1}}]
        assert not reader.eof
        os.write(write_fd, second[3:9])
        assert reader.read() == []
        os.write(write_fd, second[9:])
        assert reader.read() == [{"action": "egg-ready", "data": {"pid": 2, "url": "http://x:1"}}]
        os.close(write_fd)
        assert reader.read() == [] and reader.eof
    finally:
        reader.close()


def test_a_broken_frame_breaks_the_channel() -> None:
    read_fd, write_fd = os.pipe()
    reader = FrameReader(read_fd)
    try:
        os.write(write_fd, b"\x00\x00\x00\x02{]")
        with pytest.raises(ProtocolError):
            reader.read()
    finally:
        os.close(write_fd)
        reader.close()


def test_write_frame_is_what_the_runtime_writes() -> None:
    read_fd, write_fd = os.pipe()
    readychannel.write_frame(write_fd, "spawned", {"pid": 42})
    os.close(write_fd)
    data = os.read(read_fd, 1024)
    os.close(read_fd)
    assert data == encode({"action": "spawned", "data": {"pid": 42}})
