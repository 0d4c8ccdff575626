"""`eggscripts stop` (SPEC §2.2) against real process trees with real titles.

The clusters here are the scripted fake runtime run in the foreground as children of the
test, so a stopped master stays a zombie until the test reaps it: `stop` must count a
zombie as gone instead of waiting for its timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from eggscripts import procs as eggprocs
from tests.cli_helpers import EGGSCRIPTS, FAKE_RUNTIME, cli_env, fake_cluster, make_app, run_cli
from tests.helpers import cluster_processes


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


def pids(title: str) -> list[int]:
    return sorted(p.pid for procs in cluster_processes(title).values() for p in procs)


def test_parse_title() -> None:
    info = eggprocs.parse_title("eggscripts-master --title=a.b_c-1 --port=80 --base-dir=/x y/z")
    assert (info.role, info.title, info.port, info.base_dir) == ("master", "a.b_c-1", 80, "/x y/z")
    info = eggprocs.parse_title("eggscripts-app --title=t --base-dir=/srv")
    assert (info.role, info.title, info.port, info.base_dir) == ("app", "t", None, "/srv")
    for other in ("python -m eggscripts-master --title=x", "eggscripts-masterx --title=x",
                  "eggscripts-master", "eggscripts-agent --title= --base-dir=/"):  # fmt: skip
        assert eggprocs.parse_title(other) is None
    # psutil's split-on-spaces fallback (its issue #1179) is re-joined.
    split = ["eggscripts-app", "--title=t", "--base-dir=/srv"]
    assert eggprocs.title_of(split) == "eggscripts-app --title=t --base-dir=/srv"


def test_stops_exactly_the_title_and_reports_pids(
    tmp_path: Path, env: dict[str, str], title: str
) -> None:
    longer = f"{title}bar"
    with fake_cluster(title, tmp_path), fake_cluster(longer, tmp_path):
        ours, theirs = pids(title), pids(longer)
        procs = cluster_processes(title)
        started = time.monotonic()
        result = run_cli("stop", f"--title={title}", env=env)
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert pids(title) == []
        assert pids(longer) == theirs, "--title=foo must never match foobar"
        master, agent = procs["master"][0].pid, procs["agent"][0].pid
        apps = ", ".join(str(p.pid) for p in sorted(procs["app"], key=lambda p: p.pid))
        lines = result.stdout.splitlines()
        assert lines[0] == (
            f"[eggscripts] stopping {title} (master pid {master}; agent pid {agent}; "
            f"app pids {apps})"
        )
        assert lines[1].startswith(f"[eggscripts] stopped {title} (pids {master}, {agent}, ")
        assert len(lines) == 2
        assert set(ours) == {int(p) for p in lines[1].split("(pids ")[1].split(")")[0].split(", ")}
        # The zombie master (never reaped by us yet) did not make stop wait for --timeout.
        assert elapsed < 3


def test_nothing_running_is_not_an_error(env: dict[str, str], title: str) -> None:
    result = run_cli("stop", f"--title={title}", env=env)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"[eggscripts] no running cluster found with title {title}\n"


def test_title_and_timeout_from_pyproject(tmp_path: Path, env: dict[str, str], title: str) -> None:
    app = make_app(tmp_path / "app", tool=f'title = "{title}"\ntimeout = 400')
    with fake_cluster(title, app, FAKE_STUBBORN="master"):
        started = time.monotonic()
        result = run_cli("stop", env=env, cwd=app)
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert "no --title given" not in result.stdout
        assert f"killed pids {cluster_pid_line(result.stdout)}" in result.stdout
        assert 0.4 < elapsed < 5
        assert pids(title) == []


def cluster_pid_line(stdout: str) -> str:
    """The master pid from the 'stopping' line (the one that needed SIGKILL)."""
    line = next(ln for ln in stdout.splitlines() if "stopping" in ln)
    return line.split("master pid ")[1].split(";")[0]


def test_hung_master_and_stubborn_workers_are_killed(
    tmp_path: Path, env: dict[str, str], title: str
) -> None:
    """The master blocks waiting for app workers that ignore SIGTERM: after --timeout the
    master is SIGKILLed, then the leftovers get SIGTERM, a short grace, and SIGKILL."""
    with fake_cluster(title, tmp_path, FAKE_STUBBORN="app"):
        apps = sorted(p.pid for p in cluster_processes(title)["app"])
        started = time.monotonic()
        result = run_cli("stop", f"--title={title}", "--timeout=300", env=env)
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert pids(title) == []
        killed_line = next(ln for ln in result.stdout.splitlines() if "SIGKILL" in ln)
        for pid in apps:
            assert str(pid) in killed_line
        assert elapsed < 5


def test_base_dir_argument_selects_clusters_of_that_directory(
    tmp_path: Path, env: dict[str, str], title: str
) -> None:
    one, two = make_app(tmp_path / "one"), make_app(tmp_path / "two dir")
    with fake_cluster(f"{title}a", one), fake_cluster(f"{title}b", two):
        theirs = pids(f"{title}a")
        result = run_cli("stop", str(two), env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"stopped {title}b" in result.stdout
        assert pids(f"{title}b") == [] and pids(f"{title}a") == theirs
        result = run_cli("stop", str(two), env=env)
        assert result.stdout == f"[eggscripts] no running cluster found for {two}\n"


def test_other_users_processes_are_never_touched(
    tmp_path: Path, env: dict[str, str], title: str
) -> None:
    if os.getuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run a process as another user")
    fake_title = f"eggscripts-master --title={title} --port=1 --base-dir={tmp_path}"
    proc = subprocess.Popen(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         "bash", "-c", f'exec -a "{fake_title}" sleep 60'],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 5
        while psutil.Process(proc.pid).cmdline()[:1] != [fake_title]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        result = run_cli("stop", f"--title={title}", env=env)
        assert result.returncode == 0
        assert "no running cluster found" in result.stdout
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


NAMESPACE_SCRIPT = """
import json, subprocess, sys, time
import psutil
opts = lambda t: json.dumps({{"base_dir": "/tmp", "title": t, "port": 1, "hostname": None,
                              "workers": 1, "ready_fd": None}})
fakes = [subprocess.Popen([sys.executable, {fake!r}, "-m", "runtime.start_cluster", opts(t)])
         for t in ("{title}one", "{title}two")]
def count():
    return sum(1 for p in psutil.process_iter(["cmdline"])
               if (p.info["cmdline"] or [""])[0].startswith("eggscripts-"))
deadline = time.monotonic() + 10
while count() < 6 and time.monotonic() < deadline:
    time.sleep(0.02)
out = subprocess.run([{cli!r}, "stop"], capture_output=True, text=True)
print(out.returncode)
print(out.stdout, end="")
print("LEFT", count())
"""


def test_without_title_stops_every_cluster_of_the_user(tmp_path: Path, title: str) -> None:
    """Run in a private PID namespace: there `stop` without --title can only see the
    clusters of this test, never the ones other test sessions run on this machine."""
    if os.getuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a private PID namespace")
    script = NAMESPACE_SCRIPT.format(fake=str(FAKE_RUNTIME), cli=EGGSCRIPTS, title=title)
    result = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", script],
        capture_output=True, text=True, timeout=60, env=cli_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "0"
    assert lines[1].startswith("[eggscripts] no --title given: stopping every cluster of user ")
    assert any(ln.startswith(f"[eggscripts] stopped {title}one ") for ln in lines)
    assert any(ln.startswith(f"[eggscripts] stopped {title}two ") for ln in lines)
    assert lines[-1] == "LEFT 0"


def test_stop_returns_right_after_the_cluster_is_gone(
    tmp_path: Path, env: dict[str, str], title: str
) -> None:
    """No fixed sleep: the command exits within 400 ms of the last process disappearing."""
    with fake_cluster(title, tmp_path):
        watched = [p for procs in cluster_processes(title).values() for p in procs]
        gone_at: list[float] = []

        def watch() -> None:
            while not all(eggprocs.is_gone(p) for p in watched):
                time.sleep(0.002)
            gone_at.append(time.monotonic())

        watcher = threading.Thread(target=watch)
        stop = subprocess.Popen([EGGSCRIPTS, "stop", f"--title={title}"], env=env,
                                stdout=subprocess.DEVNULL)  # fmt: skip
        watcher.start()
        stop.wait(timeout=30)
        returned_at = time.monotonic()
        watcher.join(timeout=10)
        assert stop.returncode == 0
        latency = returned_at - gone_at[0]
        print(f"stop returned {latency * 1000:.0f} ms after the cluster was gone")
        assert latency < 0.4


def test_stop_help_mentions_user_scope(env: dict[str, str]) -> None:
    result = run_cli("stop", "--help", env=env)
    assert "Other users' processes are never touched" in " ".join(result.stdout.split())
