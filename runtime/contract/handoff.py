"""The early start's handoff: how `eggscripts start` passes a launch to a runtime
interpreter it started before parsing its options (docs/INTERNALS.md §1c).

`start` spends ~60 ms importing click and resolving options; the master then spends
~130 ms importing itself. Started at the CLI's first line, the master's interpreter does
its imports on the other core while the CLI parses, then reads one launch here: the same
argv, environment and directory the CLI would have exec'd with, plus the descriptors it
would have handed down (the title lock; for a daemon the ready channel and both logs).

One message on a Unix socketpair: the descriptors ride on the first `sendmsg`
(SCM_RIGHTS), then a JSON object, then EOF. EOF without a message means the CLI ended
without launching anything (bad options, `--help`): the runtime exits quietly.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: the CLI imports this module before it forks
if TYPE_CHECKING:
    import socket
    from collections.abc import Mapping

# The descriptors a launch may carry, by the options-JSON key (or stdio stream) they fill.
FD_NAMES = ("ready_fd", "lock_fd", "stdout", "stderr")
# "run": become the master of this launch. "rerun": not a launch for this runtime
# interpreter (a foreground-started one learned the options ask for a daemon): exec the
# CLI's own command line again, without an early start.
KINDS = ("run", "rerun")
# `runtime.start_cluster --handoff FD CLI_PID|- ROOM`: wait for a handoff on FD.
FLAG = "--handoff"
ROOM = " " * 2048  # room for the process title (eggscripts/launching/early_start.py)
# Where the CLI starts every runtime door (`runtime.start_cluster`, `runtime.check`), early
# or not: never BASE_DIR, which `python -m` would search first (runtime/process/import_path.py).
START_DIR = "/"
# Set in the environment of a CLI that must not start early again (a "rerun").
NO_EARLY_ENV = "EGGSCRIPTS_NO_EARLY_START"
_MAX_FDS = len(FD_NAMES)
_CHUNK = 65536


class Launch:
    """One launch. A plain class: this module is imported before the CLI forks, where
    every millisecond of import delays the runtime's start (no dataclasses, json, socket)."""

    __slots__ = ("argv", "cwd", "env", "fds", "kind")

    def __init__(
        self, kind: str, argv: list[str], env: dict[str, str], cwd: str, fds: dict[str, int]
    ) -> None:
        self.kind = kind
        self.argv = argv  # for "run": the `python -m runtime.start_cluster JSON` command line
        self.env = env
        self.cwd = cwd  # where to run it: "rerun": the CLI's; "run": START_DIR (enters BASE_DIR)
        self.fds = fds  # FD_NAMES -> descriptor (as received: numbers of this process)


def send(sock: socket.socket, launch: Launch) -> None:
    """Send one launch and its descriptors; raises OSError (the runtime side is gone)."""
    import json
    import socket

    assert launch.kind in KINDS and set(launch.fds) <= set(FD_NAMES), launch.kind
    names = list(launch.fds)
    body = {"kind": launch.kind, "argv": launch.argv, "env": launch.env, "cwd": launch.cwd}
    payload = json.dumps({**body, "fds": names}).encode()
    sent = socket.send_fds(sock, [payload[:_CHUNK]], [launch.fds[n] for n in names])
    sock.sendall(payload[sent:])
    sock.shutdown(socket.SHUT_WR)


def receive(sock: socket.socket) -> Launch | None:
    """Read one launch until EOF; None when the CLI sent nothing. Raises ValueError for a
    malformed one (closing every descriptor it carried)."""
    import json
    import socket

    data, fds, _flags, _addr = socket.recv_fds(sock, _CHUNK, _MAX_FDS)
    chunks = [data]
    while data:
        data = sock.recv(_CHUNK)
        chunks.append(data)
    payload = b"".join(chunks)
    if not payload:
        _close(fds)
        return None
    try:
        return _parse(json.loads(payload), fds)
    except (ValueError, KeyError, TypeError) as exc:
        _close(fds)
        raise ValueError(f"malformed handoff: {exc}") from None


def _parse(obj: Mapping[str, object], fds: list[int]) -> Launch:
    names = obj["fds"]
    kind, argv, env, cwd = obj["kind"], obj["argv"], obj["env"], obj["cwd"]
    if not (isinstance(names, list) and len(names) == len(fds) and set(names) <= set(FD_NAMES)):
        raise ValueError("descriptors do not match their names")
    if kind not in KINDS or not isinstance(argv, list) or not isinstance(env, dict):
        raise ValueError("bad kind, argv or env")
    if not isinstance(cwd, str) or not all(isinstance(a, str) for a in argv):
        raise ValueError("bad cwd or argv")
    return Launch(kind, argv, dict(env), cwd, dict(zip(names, fds, strict=True)))


def _close(fds: list[int]) -> None:
    import contextlib

    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
