"""`start --daemon` mechanics with the real runtime: detaching, the ready
channel, progress, logs, and every way a start can fail.

The failures come from small real apps under tests/fixtures/cli_*: one that writes to
stderr in its last boot hook (an instant before ready), one whose boot raises, one whose
boot never returns. A master that dies silently is the real master SIGKILLed while its
app's boot hangs. App fixtures are copied to a temporary directory so the logs and run
files the runtime writes into BASE_DIR never land in the repository.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import (
    EGGSCRIPTS,
    RecordingPython,
    cli_env,
    copy_app,
    everything,
    ignored_signals,
    make_app,
    master_of,
    run_cli,
)
from tests.clusters import start_daemon
from tests.helpers import FIXTURES, cluster_processes, request, wait_until

Start = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An app without routes: boots in no time and answers 404 everywhere."""
    return make_app(tmp_path / "app", name="daemonapp")


@pytest.fixture
def daemon(home: Path, title: str, port: int) -> Iterator[Start]:
    """`start --daemon` of an app with this test's title and port (one worker unless the
    test says otherwise); whatever runs is stopped at teardown."""

    def run(app: Path, *args: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess:
        return start_daemon(*args, str(app), title=title, port=port, env=cli_env(home, **env),
                            workers=1, timeout=timeout)  # fmt: skip

    yield run
    run_cli("stop", f"--title={title}", "--timeout=5000", env=cli_env(home))


def popen_start(app: Path, home: Path, title: str, port: int, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [EGGSCRIPTS, "start", "--daemon", f"--title={title}", f"--port={port}",
         "--hostname=127.0.0.1", "--workers=1", *args, str(app)],
        env=cli_env(home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_success_reports_url_and_master_pid(
    daemon: Start, app: Path, title: str, port: int, home: Path
) -> None:
    result = daemon(app, "--workers=2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    logs = f"{home}/logs/{title}/master-stdout.log, {home}/logs/{title}/master-stderr.log"
    assert lines[0] == f"[eggscripts] starting {title} in the background (logs: {logs})"
    master = cluster_processes(title)["master"]
    assert len(master) == 1
    assert lines[-1] == (
        f"[eggscripts] {title} started on http://127.0.0.1:{port} (master pid {master[0].pid})"
    )
    assert result.stderr == ""
    procs = cluster_processes(title)
    assert (len(procs["agent"]), len(procs["app"])) == (1, 2)
    # Ready means serving: no retry needed.
    assert request(port, "/").status == 404
    # Detached: not our child, not in our session.
    assert master[0].ppid() != os.getpid()
    assert os.getsid(master[0].pid) != os.getsid(0)


IGNORED_BY_CALLER = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGTSTP", "SIGTTIN", "SIGTTOU")


def _hostile_caller() -> None:
    """What `nohup`, a non-interactive shell's `&` or an init script may leave behind."""
    os.umask(0o027)
    for name in IGNORED_BY_CALLER:
        signal.signal(getattr(signal, name), signal.SIG_IGN)


def test_daemon_context(app: Path, home: Path, tmp_path: Path, title: str, port: int) -> None:
    """New session without a terminal, cwd BASE_DIR, stdin /dev/null, output to the logs,
    no signal left ignored (SIG_IGN survives exec), the user's umask, and no fd but 0-2
    and the ready channel: as the interpreter receives them from the CLI (recorded by the
    `--python`) and as the real master then runs."""
    python = RecordingPython(tmp_path)
    result = subprocess.run(
        [EGGSCRIPTS, "start", "--daemon", f"--python={python.path}", f"--title={title}",
         f"--port={port}", "--hostname=127.0.0.1", "--workers=1", str(app)],
        env=cli_env(home), capture_output=True, text=True, timeout=30,
        preexec_fn=_hostile_caller, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert result.returncode == 0, result.stderr
        state = python.last()
        master = master_of(title)
        assert master.pid == state["pid"]  # the recorder exec'd the real master in place
        assert master.terminal() is None
        assert master.cwd() == str(app)
        assert os.getsid(master.pid) == state["sid"]
        fds = [os.readlink(f"/proc/{master.pid}/fd/{fd}") for fd in (0, 1, 2)]
        master_ignored = ignored_signals(master.pid)
        with open(f"/proc/{master.pid}/status") as fh:
            umask = next(ln.split()[1] for ln in fh if ln.startswith("Umask:"))
    finally:
        run_cli("stop", f"--title={title}", env=cli_env(home))
    assert state["sid"] != os.getsid(0) and state["pgid"] != os.getpgid(0)
    assert state["has_tty"] is False
    assert state["cwd"] == "/"  # the runtime enters BASE_DIR itself (master.cwd() above)
    logs = [f"{home}/logs/{title}/master-stdout.log", f"{home}/logs/{title}/master-stderr.log"]
    assert state["stdio"] == ["/dev/null", *logs]
    # Python installs its own SIGINT handler when SIGINT is not ignored at startup.
    expected = {name: "default" for name in IGNORED_BY_CALLER} | {"SIGINT": "handler"}
    assert state["signals"] == expected
    assert state["umask"] == 0o027
    ready_fd, lock_fd = python.options()["ready_fd"], python.options()["lock_fd"]
    assert isinstance(ready_fd, int) and isinstance(lock_fd, int)
    assert state["fds"] == sorted([0, 1, 2, ready_fd, lock_fd])  # + the title lock
    assert state["env"]["EGG_SERVER_ENV"] == "prod"
    # The running master: same stdio, the user's umask, none of those signals ignored.
    assert fds == ["/dev/null", *logs]
    assert umask == "0027"
    assert not master_ignored & {getattr(signal, name) for name in IGNORED_BY_CALLER}


def test_live_progress_line_on_a_terminal(app: Path, home: Path, title: str, port: int) -> None:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [EGGSCRIPTS, "start", "--daemon", f"--title={title}", f"--port={port}",
         "--hostname=127.0.0.1", "--workers=2", str(app)],
        env=cli_env(home), stdin=secondary, stdout=secondary, stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([primary], [], [], 20)
            if not ready:
                break
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            output += chunk
        assert proc.wait(timeout=20) == 0
    finally:
        os.close(primary)
        run_cli("stop", f"--title={title}", env=cli_env(home))
    text = output.decode()
    assert f"\r\x1b[K[eggscripts] starting {title}: agent ready, 1/2 workers ready" in text
    assert f"\r\x1b[K[eggscripts] starting {title}: agent ready, 2/2 workers ready" in text
    assert "Wait Start" not in text
    assert f"{title} started on http://127.0.0.1:{port}" in text


def test_logs_are_rotated_created_and_never_seen_by_a_shell(
    daemon: Start, app: Path, home: Path, tmp_path: Path, title: str
) -> None:
    """An existing stdout log is renamed aside, never truncated; the parents of a new
    stderr log are created; a value with shell syntax is only a strange file name."""
    logs = home / "logs" / title  # per title: two apps never rotate each other's file
    logs.mkdir(parents=True)
    (logs / "master-stdout.log").write_text("previous run\n")
    pwned = tmp_path / "pwned"
    strange = tmp_path / "deep" / "er" / f"err.log; touch {pwned} $(touch {pwned})"
    result = daemon(app, f"--stderr={strange}")
    assert result.returncode == 0, result.stderr
    rotated = [p for p in logs.iterdir() if p.name.startswith("master-stdout.log.")]
    assert len(rotated) == 1
    assert rotated[0].read_text() == "previous run\n"
    stamp = rotated[0].name.removeprefix("master-stdout.log.")
    assert len(stamp) == 15 and stamp[8] == "." and stamp.replace(".", "").isdigit()
    assert " started on " in (logs / "master-stdout.log").read_text()  # the master's log
    assert strange.exists()
    assert not pwned.exists()


def test_stderr_output_just_before_ready_fails_unless_ignored(
    daemon: Start, tmp_path: Path, title: str, port: int
) -> None:
    """The app writes to stderr in `did_ready`, its last hook before the worker reports
    started: a once-a-second poll (egg-scripts) would report success; the final check at
    ready catches it."""
    app = copy_app(FIXTURES / "cli_stderr_app", tmp_path)
    started = time.monotonic()
    result = daemon(app)
    assert result.returncode == 1
    assert time.monotonic() - started < 15
    assert f"[eggscripts] {title} failed to start: the cluster wrote to its stderr log" in (
        result.stderr
    )
    assert "(--ignore-stderr starts it anyway;" in result.stderr
    assert "DeprecationWarning: config key 'foo' is obsolete" in result.stderr
    assert f"[eggscripts] error: {title} was not started" in result.stderr
    assert "started on" not in result.stdout
    wait_until(lambda: everything(title) == [], timeout=5)

    result = daemon(app, "--ignore-stderr")
    assert result.returncode == 0, result.stderr
    assert f"{title} started on http://127.0.0.1:{port}" in result.stdout
    assert request(port, "/").status == 404


def test_boot_error_fails_at_once_with_the_error_and_stderr_tail(
    daemon: Start, tmp_path: Path, home: Path, title: str
) -> None:
    app = copy_app(FIXTURES / "cli_boot_error", tmp_path)
    started = time.monotonic()
    result = daemon(app, "--workers=2")
    elapsed = time.monotonic() - started
    assert result.returncode == 4  # the app failed to load
    assert elapsed < 15, "must fail when the master reports it, not at the timeout"
    reason = result.stderr.splitlines()[0]
    assert re.fullmatch(
        rf"\[eggscripts\] {title} failed to start: app worker #\d \(pid \d+\) failed to start: "
        rf"Boot.did_load in {app}/app.py failed: {app}/app.py:9: RuntimeError: "
        "database unreachable",
        reason,
    ), reason
    assert f" of {home}/logs/{title}/master-stderr.log:\n" in result.stderr  # the tail follows
    assert f"[eggscripts] error: {title} was not started" in result.stderr
    assert "Traceback" not in result.stderr
    wait_until(lambda: everything(title) == [], timeout=5)


def test_master_dying_silently_fails_at_once(
    tmp_path: Path, home: Path, title: str, port: int
) -> None:
    """The master is SIGKILLed while the app's boot hangs: no startup-error, no stderr
    output, just EOF on the ready channel, which fails the start at once (even with
    --ignore-stderr), and the orphaned agent and worker are stopped."""
    app = copy_app(FIXTURES / "cli_hang_app", tmp_path)
    proc = popen_start(app, home, title, port, "--ignore-stderr", "--timeout=60000")
    try:
        wait_until(lambda: cluster_processes(title)["app"], timeout=20)
        killed_at = time.monotonic()
        master_of(title).kill()
        _, err = proc.communicate(timeout=30)
        returned = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1
    assert returned - killed_at < 5
    assert f"[eggscripts] {title} failed to start: the cluster exited before it was ready" in err
    assert everything(title) == []


@pytest.mark.parametrize(
    ("extra", "timeout_ms"), [([], 2200), (["--ignore-stderr"], 1200)], ids=["checked", "ignored"]
)
def test_timeout_stops_everything_it_started(
    daemon: Start, tmp_path: Path, title: str, extra: list[str], timeout_ms: int
) -> None:
    """A boot that never finishes: egg's `Wait Start: N...` once a second without a
    terminal, then the timeout (kept with --ignore-stderr) stops the cluster."""
    app = copy_app(FIXTURES / "cli_hang_app", tmp_path)
    started = time.monotonic()
    result = daemon(app, f"--timeout={timeout_ms}", *extra)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert timeout_ms / 1000 < elapsed < timeout_ms / 1000 + 10
    assert f"not ready after the {timeout_ms} ms timeout (--timeout)" in result.stderr
    assert "stopped what was started (pids " in result.stderr
    waits = [ln for ln in result.stdout.splitlines() if "Wait Start" in ln]
    # One line a second (a loaded machine may cut the last one short of the deadline).
    assert waits
    assert waits == [f"[eggscripts] Wait Start: {n}..." for n in range(1, len(waits) + 1)]
    assert len(waits) <= timeout_ms // 1000
    assert everything(title) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_interrupting_the_wait_stops_the_half_started_cluster(
    tmp_path: Path, home: Path, title: str, port: int, sig: signal.Signals
) -> None:
    app = copy_app(FIXTURES / "cli_hang_app", tmp_path)
    proc = popen_start(app, home, title, port)
    try:
        wait_until(lambda: cluster_processes(title)["app"], timeout=20)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1
    assert f"[eggscripts] {title} failed to start: interrupted" in err
    assert everything(title) == []


def test_second_start_with_same_title_is_refused_and_first_keeps_serving(
    daemon: Start, app: Path, title: str, port: int
) -> None:
    assert daemon(app).returncode == 0
    before = everything(title)
    result = daemon(app)
    assert result.returncode == 1
    assert f"a cluster titled {title} is already running or starting (pid" in result.stderr
    assert f"eggscripts stop --title={title}" in result.stderr
    assert everything(title) == before
    assert request(port, "/").status == 404
