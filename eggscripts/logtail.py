"""`tail` and `tail -f` over several log files at once (what `eggscripts logs` prints).

Following polls the files (4 times a second): log files are written by other processes,
so there is nothing to select on. A file that logrotate moved away or truncated is
reopened from its start, and a file that does not exist yet is picked up when it appears.
Only complete lines are printed while following, so two processes' lines never mix.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Callable

POLL = 0.25
CHUNK = 65536


def last_lines(path: str, count: int) -> list[str]:
    if count <= 0:
        return []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return [line.rstrip("\n") for line in collections.deque(fh, maxlen=count)]
    except OSError:
        return []


class Follower:
    """Where each followed file was read up to (by inode, so a rotation is noticed)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.positions: dict[str, tuple[int, int]] = {}
        self.partial: dict[str, str] = {}
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue
            self.positions[path] = (st.st_ino, st.st_size)

    def poll(self) -> list[tuple[str, list[str]]]:
        """New complete lines of every file since the last call: [(path, lines)]."""
        out = []
        for path in self.paths:
            lines = self._read(path)
            if lines:
                out.append((path, lines))
        return out

    def _read(self, path: str) -> list[str]:
        try:
            st = os.stat(path)
        except OSError:
            return []
        inode, offset = self.positions.get(path, (st.st_ino, 0))
        if inode != st.st_ino or st.st_size < offset:
            offset = 0  # rotated or truncated: the new file from its start
            self.partial.pop(path, None)
        if st.st_size == offset:
            self.positions[path] = (st.st_ino, offset)
            return []
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read(max(CHUNK, st.st_size - offset))
        except OSError:
            return []
        self.positions[path] = (st.st_ino, offset + len(data))
        text = self.partial.pop(path, "") + data.decode("utf-8", errors="replace")
        *lines, rest = text.split("\n")
        if rest:
            self.partial[path] = rest
        return lines


def follow(paths: list[str], emit: Callable[[str, list[str]], None]) -> None:
    """Print new lines of `paths` until interrupted (Ctrl-C ends it cleanly)."""
    follower = Follower(paths)
    try:
        while True:
            for path, lines in follower.poll():
                emit(path, lines)
            time.sleep(POLL)
    except KeyboardInterrupt:
        return
