"""Finding and stopping our own processes by their titles.

Titles are `eggscripts-<role> --title=<title> [--port=<port>] --base-dir=<abs path>`
(runtime/contract/titles.py writes them). After
setproctitle, `psutil.Process.cmdline()` is `[whole title, '', ...]`, so only `cmdline()[0]`
is parsed, and the title is matched as an exact space-separated token: `--title=foo` never
matches `--title=foobar` (egg-scripts' substring grep once killed the wrong app).
Only processes of the current user are ever considered.

Importing psutil (~20 ms) and scanning every process with it (~10 ms) was a quarter of
the CLI's own time in `start` and `stop`, for a lookup that almost always finds nothing.
So `find` first reads the titles straight from /proc/<pid>/cmdline (split exactly as
psutil splits them, ~1 ms); only the processes whose title matches are then looked up,
checked and returned with psutil. When nothing matches, psutil is not even imported.
Without /proc, psutil does the whole scan.

Waiting is polling with a short, growing interval that returns the moment the processes
are gone, and a zombie counts as gone: a daemon's master is reaped by init, but a master
started by some other parent stays a zombie until that parent waits for it.
"""

from __future__ import annotations

import dataclasses
import os
import select
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from runtime.contract import titles as title_format

if TYPE_CHECKING:
    import psutil

ROLES = title_format.ROLES
_PROC = "/proc"
_PREFIX = title_format.PREFIX.encode()


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
    role = parts[0].removeprefix(title_format.PREFIX)
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
    if first.startswith(title_format.PREFIX) and " " not in first and len(cmdline) > 1:
        return " ".join(part for part in cmdline if part)
    return first


def split_cmdline(data: str) -> list[str]:
    """/proc/<pid>/cmdline as psutil's Linux `Process.cmdline()` splits it."""
    if not data:
        return []
    sep = "\x00" if data.endswith("\x00") else " "
    if data.endswith(sep):
        data = data[:-1]
    cmdline = data.split(sep)
    if sep == "\x00" and len(cmdline) == 1 and " " in data:
        cmdline = data.split(" ")
    return cmdline


def same_dir(recorded: str | None, wanted: str) -> bool:
    """Is the base dir in a title the directory `wanted` (already a resolved path)?
    Compared with symlinks followed on both sides (docs/CLI.md, `stop`): a cluster started as
    `start LINK` is found by `stop <real dir>`, and one started from the real directory
    by `stop LINK`."""
    return recorded is not None and (recorded == wanted or os.path.realpath(recorded) == wanted)


def _matches(info: TitleInfo, wanted: set[str], title: str | None, base_dir: str | None) -> bool:
    """`base_dir`, when given, is already resolved: the process's is resolved here, so a
    cluster started from `/srv/app/current` is found from `releases/42` and vice versa."""
    if info.role not in wanted:
        return False
    if title is not None and info.title != title:
        return False
    return base_dir is None or same_dir(info.base_dir, base_dir)


def _scan(me: int) -> Iterator[tuple[int, TitleInfo]] | None:
    """(pid, title info) of every eggscripts process in /proc; None when there is no /proc."""
    try:
        entries = os.listdir(_PROC)
    except OSError:
        return None
    return _scan_entries(entries, me)


def _scan_entries(entries: list[str], me: int) -> Iterator[tuple[int, TitleInfo]]:
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"{_PROC}/{entry}/cmdline", "rb") as fh:
                data = fh.read()
        except OSError:  # gone, or not ours to read
            continue
        if not data.startswith(_PREFIX):
            continue
        info = parse_title(title_of(split_cmdline(os.fsdecode(data))))
        if info is not None:
            yield int(entry), info


def _candidates(
    wanted: set[str], title: str | None, base_dir: str | None, me: int
) -> list[int] | None:
    """Pids whose /proc title matches, in pid order; None when there is no /proc."""
    scan = _scan(me)
    if scan is None:
        return None
    return sorted(pid for pid, info in scan if _matches(info, wanted, title, base_dir))


def running_titles() -> list[str]:
    """Titles of this user's running masters, sorted; from /proc alone (no psutil), so
    `stop` of a title that is not running can say what is, and completion stays fast."""
    scan = _scan(os.getpid())
    if scan is None:  # pragma: no cover - no /proc: psutil does the whole scan
        return sorted(set(titles(find(roles=("master",)))))
    uid = os.getuid()
    found = set()
    for pid, info in scan:
        if info.role != "master":
            continue
        try:
            if os.stat(f"{_PROC}/{pid}").st_uid != uid:
                continue
        except OSError:
            continue
        found.add(info.title)
    return sorted(found)


def find(
    title: str | None = None,
    roles: Iterable[str] = ROLES,
    base_dir: str | None = None,
) -> list[ClusterProcess]:
    """Live eggscripts processes of the current user, optionally of one title / base dir
    (compared as resolved paths)."""
    wanted = set(roles)
    if base_dir is not None:
        base_dir = os.path.realpath(base_dir)
    me = os.getpid()
    base_dir = os.path.realpath(base_dir) if base_dir is not None else None
    pids = _candidates(wanted, title, base_dir, me)
    if pids == []:
        return []
    import psutil

    attrs = ["uids", "cmdline", "status"]
    if pids is None:
        procs: Iterable[psutil.Process] = psutil.process_iter(attrs)
    else:
        procs = _processes(pids, attrs)
    uid = os.getuid()
    found = []
    for proc in procs:
        try:
            uids, cmdline, status = (proc.info[k] for k in ("uids", "cmdline", "status"))
        except KeyError:  # pragma: no cover - psutil always fills requested attrs
            continue
        if proc.pid == me or not cmdline or uids is None or uids.real != uid:
            continue
        if status == psutil.STATUS_ZOMBIE:
            continue
        info = parse_title(title_of(cmdline))
        if info is not None and _matches(info, wanted, title, base_dir):
            found.append(ClusterProcess(proc, info))
    return found


def _processes(pids: list[int], attrs: list[str]) -> Iterator[psutil.Process]:
    """psutil handles of `pids`, with `.info` filled like `psutil.process_iter(attrs)`."""
    import psutil

    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.info = proc.as_dict(attrs, ad_value=None)
        except psutil.NoSuchProcess:
            continue
        yield proc


def start_ticks(pid: int) -> int | None:
    """When `pid` started (clock ticks after boot, field 22 of /proc/<pid>/stat, what
    psutil's create_time is made of), or None if it cannot be read: with the pid, it
    identifies one process even after the pid is recycled."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as fh:
            data = fh.read()
        return int(data[data.rfind(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process(pid: int, started: int | None) -> psutil.Process | None:
    """psutil's handle on `pid` if it is still the process that started at `started`
    (see `start_ticks`), else None: a recycled pid is never taken for our process."""
    if started is None:
        return None
    import psutil

    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None
    # Checked after the handle exists: if the pid still holds the same process now, the
    # handle (which pins its own create time) was made for that process too.
    return proc if start_ticks(pid) == started else None


def session_of(pid: int) -> int | None:
    """The session id of `pid`, None if it is gone."""
    try:
        return os.getsid(pid)
    except OSError:
        return None


def is_gone(proc: psutil.Process) -> bool:
    import psutil

    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True
    except psutil.AccessDenied:
        return False


def wait_gone(
    procs: Iterable[psutil.Process], timeout: float
) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """(gone, alive) once every process is gone or `timeout` seconds passed. Between two
    checks it waits on the processes' pidfds (Linux 5.3+), which wake it the moment one
    exits, else sleeps."""
    alive = list(procs)
    gone: list[psutil.Process] = []
    deadline = time.monotonic() + timeout
    interval = 0.002
    pidfds = _pidfds(alive)
    try:
        while True:
            still: list[psutil.Process] = []
            for proc in alive:
                (gone if is_gone(proc) else still).append(proc)
            alive = still
            remaining = deadline - time.monotonic()
            if not alive or remaining <= 0:
                return gone, alive
            waiting = [fd for fd, proc in pidfds.items() if proc in alive]
            if waiting:
                select.select(waiting, [], [], min(interval, remaining))
            else:
                time.sleep(min(interval, remaining))
            interval = min(interval * 2, 0.02)
    finally:
        for fd in pidfds:
            os.close(fd)


def _pidfds(procs: list[psutil.Process]) -> dict[int, psutil.Process]:
    fds: dict[int, psutil.Process] = {}
    if not hasattr(os, "pidfd_open"):  # not Linux
        return fds
    for proc in procs:
        try:
            fds[os.pidfd_open(proc.pid)] = proc
        except OSError:
            continue
    return fds


def titles(procs: Iterable[ClusterProcess]) -> Iterator[str]:
    """Distinct titles in order of first appearance."""
    seen: set[str] = set()
    for cp in procs:
        if cp.info.title not in seen:
            seen.add(cp.info.title)
            yield cp.info.title
