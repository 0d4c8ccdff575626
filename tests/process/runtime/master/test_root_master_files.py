"""A root master with `--user` writes no file the app user can redirect (issue 17, item 1).

The app user owns the log directory (its workers write there), so it can replace
`master.log` or the daemon's stdout/stderr log by a symbolic link. The root master used to
follow it: a link to a root-only file made the master append its lines to that file at
start or at the next SIGUSR1 (logrotate sends it). Each test here runs a cluster as root
with `--user` set to a user it creates, plays the app user's move, and checks that the
root-only file is unchanged and the master says why in one line (docs/DEPLOY.md).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import EGGSCRIPTS, cli_env, make_app
from tests.clusters import Cluster
from tests.helpers import logs_under_base_dir, wait_until
from tests.reliability.faults import python_for, system_user

SECRET = b"root only data\n"  # 15 bytes


class AppUser:
    """The created user, its home (0755, its own) and the app it owns there."""

    def __init__(self, uid: int, gid: int, home: Path) -> None:
        self.uid, self.gid, self.home = uid, gid, home
        self.name = pwd.getpwuid(uid).pw_name
        self.app = make_app(home / "app", name="shop")
        logs_under_base_dir(self.app, "shop")
        self.logs = self.app / "logs" / "shop"
        self.logs.mkdir(parents=True)
        for path in [self.app, *self.app.rglob("*")]:
            os.chown(path, uid, gid)
        python = python_for(uid, gid)
        if python is None:
            pytest.skip(f"a created user cannot run {sys.executable} (its directory is private)")
        self.python, self.env = python

    def link(self, target: Path, link: Path) -> None:
        """As the app user would: replace `link` by a symbolic link to `target`."""
        subprocess.run(["ln", "-sfn", str(target), str(link)], user=self.uid, group=self.gid,
                       extra_groups=[], check=True)  # fmt: skip

    def cluster(self, title: str, port: int, **extra: object) -> Cluster:
        cluster = Cluster(self.app, title, port, workers=1, user=self.name, **extra)
        cluster.python = self.python
        cluster.env = dict(self.env)
        return cluster


@pytest.fixture
def app_user() -> Iterator[AppUser]:
    with system_user(f"eggsec{os.urandom(3).hex()}-") as (uid, gid, home):
        user = AppUser(uid, gid, home)
        yield user
    name = user.name
    for _ in range(50):  # its last processes may not be reaped yet at the first `userdel`
        if subprocess.run(["userdel", name], capture_output=True).returncode in (0, 6):
            break
        time.sleep(0.1)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A root-only 0600 file the app user must never get the master to write to."""
    path = tmp_path / "root-only"
    path.write_bytes(SECRET)
    os.chmod(path, 0o600)
    return path


def _reopened(cluster: Cluster, log: Path, count: int) -> None:
    """Wait until the master has handled its `count`th SIGUSR1 (it says so on stdout)."""
    wait_until(lambda: cluster.output()[0].count("reopened the log files") >= count, 10)


def _start(cluster: Cluster) -> tuple[int, str, str]:
    """Start; once it failed or is ready (then stopped): exit status, stdout, stderr."""
    try:
        cluster.start(wait=False)
        assert cluster.proc is not None
        proc = cluster.proc
        wait_until(lambda: proc.poll() is not None or "started on" in cluster.output()[0], 30)
    finally:
        cluster.__exit__()
    return cluster.wait()


def test_symlinked_master_log_at_start_is_refused(app_user, secret, title, port) -> None:
    app_user.link(secret, app_user.logs / "master.log")
    code, out, err = _start(app_user.cluster(title, port))
    assert secret.read_bytes() == SECRET, f"{len(SECRET)} -> {secret.stat().st_size} bytes"
    assert code == 1, (out, err)
    lines = [line for line in err.splitlines() if "master.log" in line]
    assert len(lines) == 1, err
    assert "symbolic link" in lines[0], lines


@pytest.mark.parametrize("name", ["master.log", "common-error.log", "hard link"])
def test_master_log_swapped_for_a_symlink_before_sigusr1(
    app_user, secret, title, port, name
) -> None:
    # master.log gets a line at every reopen; common-error.log only ERROR records, so
    # its link points where a file does not exist yet: opening it would create it.
    target = secret if name != "common-error.log" else secret.with_name("created-by-root")
    with app_user.cluster(title, port) as cluster:
        log = app_user.logs / ("common-error.log" if name == "common-error.log" else "master.log")
        wait_until(log.exists, 10)
        if name == "hard link":  # made by root here: this kernel stops the app user doing it
            log.unlink()
            os.link(secret, log)
        else:
            app_user.link(target, log)
        cluster.signal(signal.SIGUSR1)
        _reopened(cluster, log, 1)
        cluster.signal(signal.SIGUSR1)  # and again: each reopen refuses anew
        _reopened(cluster, log, 2)
        time.sleep(0.3)
        assert cluster.proc is not None and cluster.proc.poll() is None
    assert secret.read_bytes() == SECRET, f"{len(SECRET)} -> {secret.stat().st_size} bytes"
    assert not target.with_name("created-by-root").exists()
    err = cluster.output()[1]
    assert ("hard links" if name == "hard link" else "symbolic link") in err, err


@pytest.mark.parametrize("where", ["root's directory", "a new directory in root's"])
def test_log_dir_named_by_the_app_must_be_the_app_users(
    app_user, tmp_path, title, port, where
) -> None:
    """The agent runs the app's code as the app user and tells the master where to log
    (`logger.dir`): naming a directory of root's (`/etc/cron.d`) must not get the root
    master to create files, or directories handed to the app user, there."""
    rooted = Path(tempfile.mkdtemp(prefix="eggsec-root-"))  # traversable: the agent may look
    os.chmod(rooted, 0o755)
    log_dir = rooted if where == "root's directory" else rooted / "made-by-root"
    config = app_user.app / "config" / "config.default.py"
    config.write_text(f"config = {{'logger': {{'dir': {str(log_dir)!r}}}}}\n")
    try:
        code, _, err = _start(app_user.cluster(title, port))
    finally:
        made = sorted(str(p.relative_to(rooted)) for p in rooted.rglob("*"))
        shutil.rmtree(rooted)
    assert made == [], made
    assert code == 1, err
    lines = [line for line in err.splitlines() if str(rooted) in line]
    assert len(lines) == 1 and "belongs to root, not to" in lines[0], err


def test_daemon_stdout_swapped_for_a_symlink_before_sigusr1(app_user, secret, title, port) -> None:
    out_log, err_log = app_user.logs / "out.log", app_user.logs / "err.log"
    extra = {"stdout_log": str(out_log), "stderr_log": str(err_log)}
    with app_user.cluster(title, port, **extra) as cluster:
        app_user.link(secret, out_log)
        app_user.link(secret, err_log)
        cluster.signal(signal.SIGUSR1)
        master_log = app_user.logs / "master.log"
        wait_until(lambda: "reopened the log files" in master_log.read_text(), 10)
        print("after the reopen", flush=True)
        time.sleep(0.3)
    assert secret.read_bytes() == SECRET, f"{len(SECRET)} -> {secret.stat().st_size} bytes"


def test_daemon_start_refuses_a_symlinked_stdout(app_user, tmp_path, title, port) -> None:
    """`start --daemon` opens the logs as root, before the daemon exists. An empty
    root-only target is not rotated aside, so a link to it used to be followed."""
    target = tmp_path / "root-only-empty"
    target.write_bytes(b"")
    os.chmod(target, 0o600)
    out_log = app_user.logs / "out.log"
    app_user.link(target, out_log)
    env = cli_env(tmp_path, **app_user.env)
    args = [f"--title={title}", f"--port={port}", "--workers=1", f"--user={app_user.name}",
            f"--python={app_user.python}", f"--stdout={out_log}",
            f"--stderr={app_user.logs / 'err.log'}"]  # fmt: skip
    try:
        result = subprocess.run([EGGSCRIPTS, "start", "--daemon", *args, str(app_user.app)],
                                env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            subprocess.run([EGGSCRIPTS, "stop", f"--title={title}"], env=env,
                           capture_output=True, timeout=60)  # fmt: skip
    assert target.read_bytes() == b"", f"0 -> {target.stat().st_size} bytes"
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "out.log" in result.stderr and "symbolic link" in result.stderr, result.stderr


def test_app_name_cannot_point_the_masters_default_log_dir_elsewhere(app_user, title, port):
    """When the agent never reports a log directory (here its config fails), the master
    writes what it logged to the default one at exit: `~/logs/<app name>`, the name from
    the app's pyproject.toml. Under --user that is the app user's home, and a name that is
    an absolute path (or climbs out with `..`) gets no file written in root's directories."""
    rooted = Path(tempfile.mkdtemp(prefix="eggsec-root-"))
    os.chmod(rooted, 0o755)
    (app_user.app / "pyproject.toml").write_text(f'[project]\nname = "{rooted}"\n')
    (app_user.app / "config" / "config.default.py").write_text("config = {\n")  # broken
    try:
        code, _, err = _start(app_user.cluster(title, port))
    finally:
        made = sorted(str(p.relative_to(rooted)) for p in rooted.rglob("*"))
        shutil.rmtree(rooted)
    assert code != 0, err  # the agent's boot failed: the start failed
    assert made == [], made


def test_leader_endpoint_swapped_for_a_symlink_removes_nothing_of_roots(
    app_user, tmp_path, title, port
) -> None:
    """The master hands the leader endpoint's /tmp directory to the app user and removes
    its files at exit. Renamed and replaced by a link to a directory of root's, the link
    used to be followed: root's files named `master` and `leader.sock` were deleted."""
    roots = _app_dir_of_root(tmp_path)
    base = Path(tempfile.mkdtemp(prefix="eggsec-tmp-"))  # a /tmp as usual: 1777
    os.chmod(base, 0o1777)
    cluster = app_user.cluster(title, port)
    cluster.env["TMPDIR"] = str(base)
    with cluster:
        (leader,) = [p for p in base.glob("eggscripts-*") if _signed_by(p, cluster.pid)]
        subprocess.run(["sh", "-c", 'mv "$1" "$1.moved" && ln -s "$2" "$1"', "-", str(leader),
                        str(roots)], user=app_user.uid, group=app_user.gid, extra_groups=[],
                       check=True)  # fmt: skip
    shutil.rmtree(base)
    assert sorted(p.name for p in roots.iterdir()) == ["leader.sock", "master"]


def _signed_by(directory: Path, pid: int) -> bool:
    """A leader endpoint directory records its master's pid in its `master` file."""
    try:
        return (directory / "master").read_text().split()[0] == str(pid)
    except (OSError, IndexError):
        return False


def _app_dir_of_root(tmp_path: Path) -> Path:
    """A directory of root's holding files named like the endpoint's."""
    roots = tmp_path / "roots"
    roots.mkdir()
    for name in ("leader.sock", "master"):
        (roots / name).write_text("root's\n")
    return roots
