"""The ready channel's framing (INTERNALS §1/§2) over a real pipe, including frames split
across reads and EOF."""

from __future__ import annotations

import os

from eggscripts import readychannel


def test_frames_split_across_writes_and_eof() -> None:
    read_fd, write_fd = os.pipe()
    reader = readychannel.FrameReader(read_fd)
    try:
        first = readychannel.encode("agent-start", {"pid": 1})
        second = readychannel.encode("egg-ready", {"pid": 2, "url": "http://x:1"})
        os.write(write_fd, first + second[:3])
        assert reader.read() == [{"action": "agent-start", "data": {"pid": 1}}]
        assert not reader.eof
        os.write(write_fd, second[3:9])
        assert reader.read() == []
        os.write(write_fd, second[9:] + b"\x00\x00\x00\x02{]")  # a broken frame is skipped
        assert reader.read() == [{"action": "egg-ready", "data": {"pid": 2, "url": "http://x:1"}}]
        os.close(write_fd)
        assert reader.read() == [] and reader.eof
    finally:
        reader.close()


def test_write_frame_is_what_the_runtime_writes() -> None:
    read_fd, write_fd = os.pipe()
    readychannel.write_frame(write_fd, "spawned", {"pid": 42})
    os.close(write_fd)
    data = os.read(read_fd, 1024)
    os.close(read_fd)
    body = b'{"action": "spawned", "data": {"pid": 42}}'
    assert data == len(body).to_bytes(4, "big") + body
