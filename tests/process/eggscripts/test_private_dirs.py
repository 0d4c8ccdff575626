"""Where the control socket and the title lock live (runtime/contract/paths.py): together,
in `$XDG_RUNTIME_DIR/eggscripts` else `$TMPDIR/eggscripts-<uid>`; another local user who
creates that directory first gets one warning line and a private fallback in the home
directory, never a refused start; a stopped cluster leaves no lock file behind.

Real processes, as a user created for the test (root only), so the squatter (root here)
really is someone else."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from runtime.contract import paths
from tests.cli_helpers import EGGSCRIPTS, cli_env, make_app, run_cli
from tests.helpers import ROOT, cluster_processes

FALLBACK = ".local/state/eggscripts/run"
# The created user runs the cluster under the system interpreter with this checkout and its
# virtualenv's packages on the path: the virtualenv's own interpreter may live where only
# root can enter (pyenv under /root); `setpriv` reaches it only for its first exec.
SYSTEM_PYTHON = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
SITE = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix))


@pytest.fixture
def victim() -> Iterator[pwd.struct_passwd]:
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("needs root, useradd and setpriv to act as a created user")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"no {SYSTEM_PYTHON} for the created user to run the cluster with")
    name = f"eggv{os.getpid() % 100000}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/false", name], check=True)
    try:
        user = pwd.getpwnam(name)
        probe = as_user(user, {"HOME": "/"}, "--version")
        if probe.returncode != 0:  # e.g. a checkout under a 0700 directory
            pytest.skip(f"another user cannot run this checkout's CLI: {probe.stderr.strip()}")
        yield user
    finally:
        subprocess.run(["userdel", name], check=False)


def as_user(
    user: pwd.struct_passwd, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
         EGGSCRIPTS, *args],
        env=env, capture_output=True, text=True, timeout=120, cwd="/",
    )  # fmt: skip


def owned_tree(user: pwd.struct_passwd) -> Path:
    """A world-traversable directory holding a home and an app owned by `user`."""
    base = Path(tempfile.mkdtemp(prefix="eggscripts-victim-"))
    base.chmod(0o755)
    home = base / "home"
    home.mkdir(mode=0o700)
    make_app(home / "app", name="squatted")
    for path in [home, *home.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    return base


def kill_cluster(title: str, uid: int | None = None) -> None:
    """What a failed test left of this cluster (of `uid`), killed and waited for."""
    left = [p for procs in cluster_processes(title, uid).values() for p in procs]
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(left, timeout=10)


@pytest.mark.parametrize("where", ["TMPDIR", "/tmp", "XDG_RUNTIME_DIR"])
def test_a_squatted_directory_never_stops_a_start(
    victim: pwd.struct_passwd, title: str, port: int, where: str
) -> None:
    """The squat is `eggscripts-<uid>` in the temp dir in use (`$TMPDIR` or /tmp): one
    warning line, then the fallback; with a runtime directory, a squat in /tmp (where the
    lock used to be, whatever the environment) is simply not in the way."""
    if where == "/tmp" and os.stat("/tmp").st_mode & 0o1777 != 0o1777:
        pytest.skip("/tmp is not world-writable and sticky here: no user could squat it")
    base = owned_tree(victim)
    home = base / "home"
    env = {k: v for k, v in cli_env(home).items() if k not in ("XDG_RUNTIME_DIR", "TMPDIR")}
    env["PYTHONPATH"] = os.pathsep.join((str(ROOT), SITE))
    if where != "/tmp":
        tmpdir = base / "tmp"
        tmpdir.mkdir()
        tmpdir.chmod(0o1777)
        env["TMPDIR"] = str(tmpdir)
    squat = Path(env.get("TMPDIR", "/tmp")) / f"eggscripts-{victim.pw_uid}"
    place, warnings = (
        home / FALLBACK,
        [
            f"[eggscripts] warning: {squat} belongs to uid 0, not to you; using "
            f"{home / FALLBACK} instead"
        ],
    )
    if where == "XDG_RUNTIME_DIR":
        squat = Path("/tmp") / f"eggscripts-{victim.pw_uid}"
        runtime_dir = home / "xdg"
        runtime_dir.mkdir(mode=0o700)
        os.chown(runtime_dir, victim.pw_uid, victim.pw_gid)
        env["XDG_RUNTIME_DIR"] = str(runtime_dir)
        place, warnings = runtime_dir / "eggscripts", []
    squat.mkdir(mode=0o755)  # by root: another user, who never goes away
    try:
        started = as_user(victim, env, "start", "--daemon", f"--title={title}",
                          f"--port={port}", "--workers=1", f"--python={SYSTEM_PYTHON}",
                          str(home / "app"))  # fmt: skip
        assert started.returncode == 0, started.stderr
        assert started.stderr.splitlines() == warnings
        assert os.path.exists(paths.socket_path(title, str(place)))
        assert os.path.exists(paths.lock_path(title, str(place)))
        assert os.stat(place).st_mode & 0o777 == 0o700
        status = as_user(victim, env, "status", f"--title={title}", "--json")
        assert status.returncode == 0, status.stderr
        assert status.stderr.splitlines() == warnings
        stopped = as_user(victim, env, "stop", f"--title={title}")
        assert stopped.returncode == 0, stopped.stderr
        assert sorted(os.listdir(place)) == []  # no socket, no lock file left
        assert sorted(os.listdir(squat)) == []  # nothing was written into the squat
    finally:
        kill_cluster(title, victim.pw_uid)
        shutil.rmtree(squat, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


def test_a_stopped_cluster_leaves_no_lock_file(tmp_path: Path, title: str, port: int) -> None:
    """The lock sits next to the control socket, in the runtime directory, and goes with
    the cluster (it used to stay in /tmp/eggscripts-<uid>/, one file per title ever used)."""
    runtime_dir = tmp_path / "xdg"
    runtime_dir.mkdir(mode=0o700)
    env = cli_env(tmp_path, XDG_RUNTIME_DIR=str(runtime_dir))
    app = make_app(tmp_path / "app", name="locked")
    place = runtime_dir / "eggscripts"
    try:
        started = run_cli("start", "--daemon", f"--title={title}", f"--port={port}",
                          "--workers=1", str(app), env=env, timeout=120)  # fmt: skip
        assert started.returncode == 0, started.stderr
        assert sorted(os.listdir(place)) == sorted(
            os.path.basename(path(title, str(place)))
            for path in (paths.lock_path, paths.socket_path)
        )
        lock = Path(paths.lock_path(title, str(place))).read_text().strip()
        assert int(lock) == min(p.pid for p in cluster_processes(title)["master"])
        stopped = run_cli("stop", f"--title={title}", env=env, timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        assert os.listdir(place) == []
    finally:
        kill_cluster(title)
