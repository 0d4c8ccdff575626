"""`eggscripts stop` against real clusters started by `eggscripts start`.

Most clusters here run in the foreground as children of the test: once stopped, a master
stays our zombie until we reap it, which `stop` must count as gone instead of waiting for
its timeout. A hung master is the real master SIGSTOPped; stubborn workers come from
tests/fixtures/cli_stubborn_app, whose workers ignore SIGTERM once the cluster is ready.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from eggscripts.finding import procs as eggprocs
from tests.cli_helpers import (
    EGGSCRIPTS,
    cli_env,
    copy_app,
    everything,
    ignored_signals,
    make_app,
    run_cli,
)
from tests.clusters import foreground_cluster, foreground_clusters
from tests.helpers import FIXTURES, cluster_processes, free_port, request, wait_until


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


def killed_pids(stdout: str, title: str) -> set[int]:
    """The pids of `<title>: killed pids a, b with SIGKILL (...)`."""
    line = next(ln for ln in stdout.splitlines() if ln.startswith(f"[eggscripts] {title}: killed"))
    listed = line.split("killed pids ", 1)[1].split(" with SIGKILL", 1)[0]
    return {int(pid) for pid in listed.split(", ")}


def test_stops_exactly_the_title_and_reports_pids(
    tmp_path: Path, env: dict[str, str], title: str, port: int
) -> None:
    app = make_app(tmp_path / "app")
    longer = f"{title}bar"
    clusters = [(app, title, port), (app, longer, free_port())]
    with foreground_clusters(clusters, env, workers=2) as (ours, _):
        theirs = everything(longer)
        procs = cluster_processes(title)
        started = time.monotonic()
        result = run_cli("stop", f"--title={title}", env=env)
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert everything(title) == []
        assert everything(longer) == theirs, "--title=foo must never match foobar"
        # Our child, the master, is a zombie nobody reaped yet: stop did not wait for that.
        assert psutil.Process(ours.pid).status() == psutil.STATUS_ZOMBIE
        assert elapsed < 5
    master, agent = procs["master"][0].pid, procs["agent"][0].pid
    apps = sorted(p.pid for p in procs["app"])
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"[eggscripts] stopping {title} (master pid {master}; agent pid {agent}; "
        f"app pids {apps[0]}, {apps[1]})"
    )
    assert lines[1].startswith(
        f"[eggscripts] stopped {title} (pids {master}, {agent}, {apps[0]}, {apps[1]}) in "
    )
    assert len(lines) == 2


def test_nothing_running_is_not_an_error(env: dict[str, str], title: str) -> None:
    result = run_cli("stop", f"--title={title}", env=env)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"[eggscripts] no running cluster found with title {title} (")


def test_title_and_timeout_from_pyproject_and_a_hung_master(
    tmp_path: Path, env: dict[str, str], title: str, port: int
) -> None:
    """The master is stopped (SIGSTOP) so it cannot act on SIGTERM: after the 400 ms of
    `timeout` from pyproject.toml it is killed, and its orphaned children go too."""
    app = make_app(tmp_path / "app", tool=f'title = "{title}"\ntimeout = "400ms"')
    # (`timeout` is also start's: the command line gives the start its own)
    with foreground_cluster(app, title, port, env, extra=("--timeout=60000",)) as fg:
        os.kill(fg.pid, signal.SIGSTOP)
        started = time.monotonic()
        result = run_cli("stop", env=env, cwd=app)
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert "--all" not in result.stdout
        assert killed_pids(result.stdout, title) == {fg.pid}
        assert 0.4 < elapsed < 5
        assert everything(title) == []


def test_hung_master_and_stubborn_workers_are_killed(
    tmp_path: Path, env: dict[str, str], title: str, port: int
) -> None:
    """The worker ignores SIGTERM and its event loop is blocked (so it does not notice the
    master's death either); the master waits for it: after --timeout the master is
    SIGKILLed, then the leftover worker gets SIGTERM, a short grace, and SIGKILL."""
    app = copy_app(FIXTURES / "cli_stubborn_app", tmp_path)
    with foreground_cluster(app, title, port, env) as fg:
        worker = cluster_processes(title)["app"][0].pid
        wait_until(lambda: signal.SIGTERM in ignored_signals(worker))  # server_did_ready has run
        blocked = threading.Thread(target=_request_quietly, args=(port, "/block"))
        blocked.start()
        wait_until(lambda: (app / "blocked").exists())
        started = time.monotonic()
        result = run_cli("stop", f"--title={title}", "--timeout=500ms", env=env)
        elapsed = time.monotonic() - started
        blocked.join(timeout=10)
        assert result.returncode == 0, result.stderr
        assert everything(title) == []
        assert {fg.pid, worker} <= killed_pids(result.stdout, title)
        assert elapsed < 6


def _request_quietly(port: int, path: str) -> None:
    with contextlib.suppress(OSError):  # the worker is killed mid-request
        request(port, path, timeout=20)


def test_stubborn_workers_are_killed_by_the_master(
    tmp_path: Path, env: dict[str, str], title: str, port: int
) -> None:
    """Workers that ignore SIGTERM (but keep their loop running): the master itself
    SIGKILLs them after its kill_app_timeout (5 s), then stops the agent and exits; `stop`
    only waits for it."""
    app = copy_app(FIXTURES / "cli_stubborn_app", tmp_path)
    with foreground_cluster(app, title, port, env) as fg:
        worker = cluster_processes(title)["app"][0].pid
        wait_until(lambda: signal.SIGTERM in ignored_signals(worker))
        result = run_cli("stop", f"--title={title}", env=env)
        assert result.returncode == 0, result.stderr
        assert "SIGKILL" not in result.stdout  # stop never had to kill anything itself
        assert everything(title) == []
        assert fg.proc.wait(timeout=5) == 0
    # env prod: the default log dir is ~/logs/<title>/ (not the app's default title)
    log = (Path(env["HOME"]) / "logs" / title / "master.log").read_text()
    assert f"app_worker#1:{worker} did not stop in time: SIGKILL" in log


def test_base_dir_argument_selects_clusters_of_that_directory(
    tmp_path: Path, env: dict[str, str], title: str, port: int
) -> None:
    one, two = make_app(tmp_path / "one"), make_app(tmp_path / "two dir")
    with foreground_clusters([(one, f"{title}a", port), (two, f"{title}b", free_port())], env):
        theirs = everything(f"{title}a")
        result = run_cli("stop", str(two), env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"stopped {title}b" in result.stdout
        assert everything(f"{title}b") == [] and everything(f"{title}a") == theirs
        result = run_cli("stop", str(two), env=env)
        line = f"[eggscripts] no running cluster found for {two} (running: "
        assert result.stdout.startswith(line)


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
import subprocess, sys
import psutil

def count():
    return sum(1 for p in psutil.process_iter(["cmdline", "status"])
               if (p.info["cmdline"] or [""])[0].startswith("eggscripts-")
               and p.info["status"] != psutil.STATUS_ZOMBIE)

for title, port in (("{title}one", {port_one}), ("{title}two", {port_two})):
    started = subprocess.run(
        [{cli!r}, "start", "--daemon", "--title=" + title, "--port=%d" % port,
         "--hostname=127.0.0.1", "--workers=1", {app!r}], capture_output=True, text=True)
    if started.returncode:
        sys.exit("start failed: " + started.stderr)
out = subprocess.run([{cli!r}, "stop", "--all"], capture_output=True, text=True)
print(out.returncode)
print(out.stdout, end="")
print("LEFT", count())
"""


def test_all_stops_every_cluster_of_the_user(tmp_path: Path, title: str, port: int) -> None:
    """Run in a private PID namespace: there `stop --all` can only see the clusters of
    this test, never the ones other test sessions run on this machine."""
    if os.getuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a private PID namespace")
    app = make_app(tmp_path / "app")
    script = NAMESPACE_SCRIPT.format(
        cli=EGGSCRIPTS, title=title, app=str(app), port_one=port, port_two=free_port()
    )
    result = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", script],
        capture_output=True, text=True, timeout=60, env=cli_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "0"
    assert lines[1].startswith("[eggscripts] --all: stopping every cluster of user ")
    assert any(ln.startswith(f"[eggscripts] stopped {title}one ") for ln in lines)
    assert any(ln.startswith(f"[eggscripts] stopped {title}two ") for ln in lines)
    assert lines[-1] == "LEFT 0"


def test_stop_returns_right_after_the_cluster_is_gone(
    tmp_path: Path, env: dict[str, str], title: str, port: int
) -> None:
    """No fixed sleep: the command exits within 400 ms of the last process disappearing."""
    with foreground_cluster(make_app(tmp_path / "app"), title, port, env):
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
