"""Fault injectors shared by the reliability cases: real mounts, real limits, real load."""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest


@contextlib.contextmanager
def tmpfs(path: Path, size_kb: int) -> Iterator[Path]:
    """A tmpfs of `size_kb` mounted at `path` for the block (skips when mounting is not
    permitted: not root, or a container without CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(directory: Path) -> Path:
    """Write a file into `directory` until its file system is full; returns the file."""
    filler = directory / "filler"
    chunk = b"x" * 4096
    with open(filler, "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    # A few bytes may still fit in a partly used block: take those too.
    with contextlib.suppress(OSError), open(filler, "ab", buffering=0) as fh:
        for _ in range(4096):
            fh.write(b"x")
    return filler


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


@contextlib.contextmanager
def system_user(prefix: str = "eggrel") -> Iterator[tuple[int, int, Path]]:
    """A throw-away system user (uid, gid, a home it owns) for the block; skips when not
    root. Every process it still has is SIGKILLed before the user is deleted."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to create a user")
    name = f"{prefix}{os.getpid() % 100000}"
    created = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
    )
    if created.returncode != 0:
        pytest.skip(f"useradd failed: {created.stderr.strip()}")
    entry = pwd.getpwnam(name)
    home = Path(tempfile.mkdtemp(prefix=f"{name}-home-"))
    os.chmod(home, 0o755)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    try:
        yield entry.pw_uid, entry.pw_gid, home
    finally:
        for proc in psutil.process_iter(["uids"]):
            with contextlib.suppress(psutil.Error, TypeError):
                if proc.info["uids"].real == entry.pw_uid:
                    proc.kill()
        time.sleep(0.2)
        subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def give_to(source: Path, uid: int, gid: int, parent: Path) -> Path:
    """A copy of the app `source` under `parent` (world-traversable), owned by uid:gid."""
    os.chmod(parent, 0o755)
    target = parent / source.name
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        os.chown(path, uid, gid)
    return target


class ForkLimit:
    """Makes a running cluster's forks fail with EAGAIN, then lets them succeed again.

    `rlimit_nproc` (`ulimit -u`): the cluster runs as a user the test created, with a soft
    RLIMIT_NPROC of `NPROC` set at its start (`preexec`); `block()` has the chaos agent take
    every process slot left to that user, and each one freed. (Lowering the running
    master's limit from outside, `prlimit`, needs CAP_SYS_RESOURCE, which a container
    often lacks.) `pids_cgroup`: the master moves into a pids cgroup (v1) whose `pids.max`
    becomes its own task count, as under a container's pids limit; this one works as root.
    """

    CGROUP_ROOT = Path("/sys/fs/cgroup/pids")
    NPROC = 96

    def __init__(self, kind: str, pid: int, port: int) -> None:
        self.kind, self.pid, self.port = kind, pid, port
        self.cgroup = self.CGROUP_ROOT / f"eggscripts-test-{os.getpid()}-{pid}"
        if kind == "pids_cgroup":
            try:
                self.cgroup.mkdir()
                (self.cgroup / "cgroup.procs").write_text(str(pid))
            except OSError as exc:
                pytest.skip(f"no writable pids cgroup here: {exc}")

    @classmethod
    def preexec(cls) -> None:
        """In the cluster's process, before exec: its `ulimit -u`."""
        resource.setrlimit(resource.RLIMIT_NPROC, (cls.NPROC, cls.NPROC))

    def _user_tasks(self) -> int:
        uid = psutil.Process(self.pid).uids().real
        total = 0
        for proc in psutil.process_iter(["uids", "num_threads"]):
            if proc.info["uids"] is not None and proc.info["uids"].real == uid:
                total += proc.info["num_threads"] or 0
        return total

    def block(self) -> None:
        if self.kind == "pids_cgroup":
            (self.cgroup / "pids.max").write_text((self.cgroup / "pids.current").read_text())
            return
        from tests.helpers import request, wait_until

        assert request(self.port, "/hog?on=1").text == "sent"
        wait_until(lambda: self._user_tasks() >= self.NPROC, timeout=10)

    def allow(self) -> None:
        if self.kind == "pids_cgroup":
            (self.cgroup / "pids.max").write_text("max")
        else:
            from tests.helpers import request

            assert request(self.port, "/hog?on=0").text == "sent"

    def close(self) -> None:
        """After the process exited: the emptied cgroup goes."""
        if self.kind == "pids_cgroup":
            for _ in range(50):
                with contextlib.suppress(OSError):
                    self.cgroup.rmdir()
                    return
                time.sleep(0.1)


def runs_as(uid: int, gid: int, executable: str, env: dict[str, str] | None = None) -> bool:
    """Whether `uid` can start `executable` and import the runtime with `env`."""
    try:
        probe = subprocess.run(
            [executable, "-c", "import uvloop, yaml, runtime.start_cluster"],
            user=uid, group=gid, extra_groups=[], capture_output=True, env=env,
            cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
    except OSError:
        return False
    return probe.returncode == 0


def python_for(uid: int, gid: int) -> tuple[str, dict[str, str]] | None:
    """An interpreter `uid` can run with this one's packages: this one, else the system
    Python of the same version with this environment's site-packages on PYTHONPATH (a
    Python under a private /root is out of reach of other users)."""
    if runs_as(uid, gid, sys.executable):
        return sys.executable, {}
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    root = str(Path(__file__).resolve().parents[2])
    env = {"PYTHONPATH": os.pathsep.join([root, sysconfig.get_paths()["purelib"]])}
    if os.path.exists(system) and runs_as(uid, gid, system, {**os.environ, **env}):
        return system, env
    return None
