"""`tail` and `tail -f` over several log files at once (what `eggscripts logs` prints).

Following polls the files (4 times a second): log files are written by other processes,
so there is nothing to select on. A file that logrotate moved away is read to its end
before the new one is read from its start (no line written just before the rotation is
lost), a truncated file is read again from its start, and a file that does not exist yet
is picked up when it appears.
Only complete lines are printed while following, so two processes' lines never mix.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Callable
from typing import BinaryIO

POLL = 0.25


def last_lines(path: str, count: int) -> list[str]:
    if count <= 0:
        return []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return [line.rstrip("\n") for line in collections.deque(fh, maxlen=count)]
    except OSError:
        return []


class Follower:
    """An open handle on each followed file, read to its end at every poll (`tail -F`).

    A file that logrotate moved away is read to its end through the handle still open on
    it (what its writer added just before it reopened), then the new file at the same
    path from its start; a truncated file is read again from its start; a file that does
    not exist yet is picked up, from its start, when it appears."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.files: dict[str, BinaryIO] = {}
        self.partial: dict[str, str] = {}
        for path in paths:
            fh = _open(path)
            if fh is not None:
                fh.seek(0, os.SEEK_END)
                self.files[path] = fh

    def poll(self) -> list[tuple[str, list[str]]]:
        """New complete lines of every file since the last call: [(path, lines)]."""
        out = []
        for path in self.paths:
            lines = self._read(path)
            if lines:
                out.append((path, lines))
        return out

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()
        self.files.clear()

    def _read(self, path: str) -> list[str]:
        fh = self.files.get(path) or _open(path)
        if fh is None:
            return []
        self.files[path] = fh
        lines = self._lines(path, fh.read())
        try:
            st = os.stat(path)
        except OSError:  # moved away and not recreated yet: keep reading the old one
            return lines
        if st.st_ino != os.fstat(fh.fileno()).st_ino:
            lines += self._lines(path, fh.read())  # what was written until the switch
            rest = self.partial.pop(path, "")
            if rest:
                lines.append(rest)
            fh.close()
            del self.files[path]
            return lines + self._read(path)
        if st.st_size < fh.tell():  # truncated: the file again from its start
            fh.seek(0)
            self.partial.pop(path, None)
            lines += self._lines(path, fh.read())
        return lines

    def _lines(self, path: str, data: bytes) -> list[str]:
        if not data:
            return []
        text = self.partial.pop(path, "") + data.decode("utf-8", errors="replace")
        *lines, rest = text.split("\n")
        if rest:
            self.partial[path] = rest
        return lines


def _open(path: str) -> BinaryIO | None:
    try:
        return open(path, "rb")
    except OSError:
        return None


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
    finally:
        follower.close()
