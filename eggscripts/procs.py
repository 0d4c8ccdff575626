"""Finding and stopping our own processes by their titles (SPEC §3, PITFALLS).

Titles are `eggscripts-<role> --title=<title> [--port=<port>] --base-dir=<abs path>`. After
setproctitle, `psutil.Process.cmdline()` is `[whole title, '', ...]`, so only `cmdline()[0]`
is parsed, and the title is matched as an exact space-separated token: `--title=foo` never
matches `--title=foobar` (egg-scripts' substring grep once killed the wrong app).
Only processes of the current user are ever considered.

Waiting is polling with a short, growing interval that returns the moment the processes
are gone, and a zombie counts as gone: a daemon's master is reaped by init, but a master
started by some other parent stays a zombie until that parent waits for it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Iterator

import psutil

ROLES = ("master", "agent", "app")
_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess)


@dataclasses.dataclass(frozen=True)
class TitleInfo:
    role: str
    title: str
    port: int | None
    base_dir: str | None


@dataclasses.dataclass(frozen=True)
class ClusterProcess:
    proc: psutil.Process
    info: TitleInfo

    @property
    def pid(self) -> int:
        return self.proc.pid


def parse_title(text: str) -> TitleInfo | None:
    """The parts of an eggscripts process title, or None for any other process."""
    parts = text.split(" ")
    role = parts[0].removeprefix("eggscripts-")
    if parts[0] == role or role not in ROLES:
        return None
    title = next((p.removeprefix("--title=") for p in parts if p.startswith("--title=")), "")
    if not title:
        return None
    port = next((p.removeprefix("--port=") for p in parts if p.startswith("--port=")), None)
    # The base dir comes last and is the only part that may contain spaces.
    _, sep, base_dir = text.partition(" --base-dir=")
    return TitleInfo(
        role=role,
        title=title,
        port=int(port) if port and port.isdigit() else None,
        base_dir=base_dir if sep else None,
    )


def title_of(cmdline: list[str]) -> str:
    """The process title from a psutil cmdline.

    setproctitle leaves `[title, '', ...]`; but when the title fills the argv area exactly,
    psutil sees one NUL-terminated string with spaces and splits it on spaces (its issue
    #1179 workaround), so a bare `eggscripts-<role>` first element is re-joined.
    """
    first = cmdline[0]
    if first.startswith("eggscripts-") and " " not in first and len(cmdline) > 1:
        return " ".join(part for part in cmdline if part)
    return first


def find(
    title: str | None = None,
    roles: Iterable[str] = ROLES,
    base_dir: str | None = None,
) -> list[ClusterProcess]:
    """Live eggscripts processes of the current user, optionally of one title / base dir."""
    wanted = set(roles)
    uid = os.getuid()
    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["uids", "cmdline", "status"]):
        try:
            uids, cmdline, status = (proc.info[k] for k in ("uids", "cmdline", "status"))
        except KeyError:  # pragma: no cover - psutil always fills requested attrs
            continue
        if proc.pid == me or not cmdline or uids is None or uids.real != uid:
            continue
        if status == psutil.STATUS_ZOMBIE:
            continue
        info = parse_title(title_of(cmdline))
        if info is None or info.role not in wanted:
            continue
        if title is not None and info.title != title:
            continue
        if base_dir is not None and info.base_dir != base_dir:
            continue
        found.append(ClusterProcess(proc, info))
    return found


def is_gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except _GONE:
        return True
    except psutil.AccessDenied:
        return False


def wait_gone(
    procs: Iterable[psutil.Process], timeout: float
) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """(gone, alive) once every process is gone or `timeout` seconds passed."""
    alive = list(procs)
    gone: list[psutil.Process] = []
    deadline = time.monotonic() + timeout
    interval = 0.002
    while True:
        still = []
        for proc in alive:
            (gone if is_gone(proc) else still).append(proc)
        alive = still
        remaining = deadline - time.monotonic()
        if not alive or remaining <= 0:
            return gone, alive
        time.sleep(min(interval, remaining))
        interval = min(interval * 2, 0.02)


def titles(procs: Iterable[ClusterProcess]) -> Iterator[str]:
    """Distinct titles in order of first appearance."""
    seen: set[str] = set()
    for cp in procs:
        if cp.info.title not in seen:
            seen.add(cp.info.title)
            yield cp.info.title
