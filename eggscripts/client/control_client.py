"""The CLI's end of the control channel: one request to a running master, its replies.

Protocol (docs/INTERNALS.md §4), framed like the ready channel: the client sends
`{"action", "data"}`; the master answers with progress frames and one final frame,
`done` or `error`, whose `exit` is the command's exit status.

A master that does not answer is never waited on forever: every wait has a deadline.
A socket file nobody accepts on (its master was SIGKILLed) is removed here too, once no
master of that title is alive, so the next `start` finds a clean place.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import stat
import time
from collections.abc import Iterator, Mapping
from typing import Any

from eggscripts.client import targets
from eggscripts.client.control_dir import UnsafeControlDir, place
from eggscripts.errors import EggScriptsError
from eggscripts.finding import procs
from runtime.contract import control, paths
from runtime.contract.framing import FrameReader, ProtocolError, encode

CONNECT_TIMEOUT = 5.0


class NotRunning(EggScriptsError):
    """No master of this title answers: `status` exits 3 (LSB), so do `reload`/`scale`."""

    exit_code = 3


class ControlFailed(EggScriptsError):
    """The master answered with an error frame; its `exit` becomes ours."""

    def __init__(self, message: str, exit_code: int = 1, data: dict[str, Any] | None = None):
        super().__init__(message)
        # click declares exit_code on the class but reads it from the instance.
        self.exit_code = exit_code  # type: ignore[misc]
        self.data = data or {}


class Connection:
    """One connected control socket; `request` sends, `replies` reads until final."""

    def __init__(self, title: str, sock: socket.socket) -> None:
        self.title = title
        self.sock = sock
        self.reader = FrameReader(sock.fileno())

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, action: control.ControlAction, data: Mapping[str, Any] | None = None) -> None:
        payload = encode(control.request(action, data))
        self.sock.setblocking(True)
        try:
            self.sock.sendall(payload)
        except OSError as exc:
            self.sock.setblocking(False)
            for frame in self._read():  # a refusal the master sent before hanging up
                result(frame)
            raise EggScriptsError(f"lost the connection to {self.title}: {exc.strerror}") from None
        self.sock.setblocking(False)

    def replies(self, timeout: float | None) -> Iterator[dict[str, Any]]:
        """Every frame until (and including) the final one; raises on EOF or timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for frame in self._read():
                yield frame
                if frame.get("action") in control.FINAL:
                    return
            if self.reader.eof:
                raise EggScriptsError(f"the master of {self.title} closed the control connection")
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                raise EggScriptsError(f"the master of {self.title} did not answer in time")
            select.select([self.sock], [], [], wait)

    def _read(self) -> list[dict[str, Any]]:
        try:
            return self.reader.read()
        except ProtocolError as exc:
            raise EggScriptsError(f"the master of {self.title} sent a bad frame: {exc}") from None


def connect(title: str) -> Connection:
    """Connect to the master of `title`, or raise NotRunning / a one-line error."""
    directory = place().directory
    try:
        if not paths.check_dir(directory):
            raise _not_running(title)
    except paths.UnsafeDir as exc:
        raise UnsafeControlDir(f"no private control directory: {exc}") from None
    path = paths.socket_path(title, directory)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.ECONNREFUSED:
            _remove_if_stale(title, path)
        if exc.errno in (errno.ENOENT, errno.ECONNREFUSED):
            raise _not_running(title) from None
        raise EggScriptsError(
            f"cannot reach the master of {title} ({path}): {exc.strerror}"
        ) from None
    sock.setblocking(False)
    return Connection(title, sock)


def call(
    title: str,
    action: control.ControlAction,
    data: Mapping[str, Any] | None = None,
    timeout: float = 10.0,
) -> Any:
    """One request, its final answer's data; an error frame raises ControlFailed."""
    with connect(title) as conn:
        conn.request(action, data)
        final: dict[str, Any] = {}
        for frame in conn.replies(timeout):
            final = frame
    return result(final)


def result(final: dict[str, Any]) -> Any:
    """The data of a `done` frame; ControlFailed for an `error` frame."""
    data = final.get("data")
    if final.get("action") == control.Reply.ERROR:
        info = data if isinstance(data, dict) else {}
        message = str(info.get("message") or "the master reported an error")
        raise ControlFailed(message, _exit(final, 1), info)
    return data


def _exit(frame: dict[str, Any], default: int) -> int:
    value = frame.get("exit", default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _not_running(title: str) -> NotRunning:
    """Not running, unless a master of that title runs without a control channel (started
    by an older eggscripts, or by `python -m runtime.start_cluster` directly)."""
    masters = procs.find(title, roles=("master",))
    if masters:
        pid = masters[0].pid
        return NotRunning(
            f"the master of {title} (pid {pid}) has no control channel "
            "(started by an older eggscripts?); restart it to use this command"
        )
    return NotRunning(targets.not_running_line(title))


def _remove_if_stale(title: str, path: str) -> None:
    """The socket of a SIGKILLed master: nobody accepts on it and no master of the title
    is alive (a live one may just be re-binding). Removing it is what a new start would do."""
    if procs.find(title, roles=("master",)):
        return
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except OSError:
        pass
