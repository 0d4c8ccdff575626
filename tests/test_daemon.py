"""`start --daemon` mechanics (SPEC §4) against a scripted fake runtime.

The fake (tests/fixtures/cli_fake_runtime) is a real process tree with real titles, a real
ready channel and real signals; its behaviour is scripted so the cases the real runtime
cannot produce on demand are covered: stderr output an instant before ready, a master that
never gets ready, one that dies silently. tests/test_daemon_runtime.py runs the real one.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.cli_helpers import EGGSCRIPTS, cli_env, fake_python, make_app, run_cli
from tests.helpers import cluster_processes, wait_until


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return make_app(tmp_path / "app", name="fakeapp")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def daemon(app: Path, home: Path, title: str, port: int) -> Iterator:
    """Run `start --daemon` with the fake runtime; stop the title at teardown."""
    fake = fake_python(app.parent)

    def run(*args: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
        return run_cli(
            "start", "--daemon", f"--python={fake}", f"--title={title}", f"--port={port}",
            "--workers=2", *args, str(app), env=cli_env(home, **env), timeout=timeout,
        )  # fmt: skip

    yield run
    run_cli("stop", f"--title={title}", "--timeout=5000", env=cli_env(home))


def alive(title: str) -> dict[str, list[psutil.Process]]:
    return {role: procs for role, procs in cluster_processes(title).items() if procs}


def test_success_reports_url_and_master_pid(daemon, title: str, port: int, home: Path) -> None:
    result = daemon()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    logs = f"{home}/logs/master-stdout.log, {home}/logs/master-stderr.log"
    assert lines[0] == f"[eggscripts] starting {title} in the background (logs: {logs})"
    master = cluster_processes(title)["master"]
    assert len(master) == 1
    assert lines[-1] == (
        f"[eggscripts] {title} started on http://0.0.0.0:{port} (master pid {master[0].pid})"
    )
    assert result.stderr == ""
    procs = cluster_processes(title)
    assert (len(procs["agent"]), len(procs["app"])) == (1, 2)
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
    and the ready channel."""
    report = tmp_path / "report.json"
    result = subprocess.run(
        [EGGSCRIPTS, "start", "--daemon", f"--python={fake_python(tmp_path)}",
         f"--title={title}", f"--port={port}", "--workers=1", str(app)],
        env=cli_env(home, FAKE_REPORT=str(report)), capture_output=True, text=True,
        timeout=30, preexec_fn=_hostile_caller, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert result.returncode == 0, result.stderr
        state = json.loads(report.read_text())
    finally:
        run_cli("stop", f"--title={title}", env=cli_env(home))
    assert state["sid"] != os.getsid(0) and state["pgid"] != os.getpgid(0)
    assert state["has_tty"] is False
    assert state["cwd"] == str(app)
    assert state["stdin"] == "/dev/null"
    assert state["stdout"] == f"{home}/logs/master-stdout.log"
    assert state["stderr"] == f"{home}/logs/master-stderr.log"
    # Python installs its own SIGINT handler when SIGINT is not ignored at startup.
    expected = {name: "default" for name in IGNORED_BY_CALLER} | {"SIGINT": "handler"}
    assert state["signals"] == expected
    assert state["umask"] == 0o027
    ready_fd = state["options"]["ready_fd"]
    assert isinstance(ready_fd, int)
    assert state["fds"] == [0, 1, 2, ready_fd]
    assert state["env"] == "prod"


def test_progress_lines_without_a_terminal(daemon) -> None:
    result = daemon(FAKE_DELAY="0.8")
    assert result.returncode == 0, result.stderr
    waits = [ln for ln in result.stdout.splitlines() if "Wait Start" in ln]
    assert waits[:2] == ["[eggscripts] Wait Start: 1...", "[eggscripts] Wait Start: 2..."]


def test_live_progress_line_on_a_terminal(app: Path, home: Path, title: str, port: int) -> None:
    fake = fake_python(app.parent)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [EGGSCRIPTS, "start", "--daemon", f"--python={fake}", f"--title={title}",
         f"--port={port}", "--workers=2", str(app)],
        env=cli_env(home, FAKE_DELAY="0.3"), stdin=secondary, stdout=secondary,
        stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([primary], [], [], 10)
            if not ready:
                break
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            output += chunk
        assert proc.wait(timeout=10) == 0
    finally:
        os.close(primary)
        run_cli("stop", f"--title={title}", env=cli_env(home))
    text = output.decode()
    assert f"\r\x1b[K[eggscripts] starting {title}: agent ready, 1/2 workers ready" in text
    assert f"\r\x1b[K[eggscripts] starting {title}: agent ready, 2/2 workers ready" in text
    assert "Wait Start" not in text
    assert f"{title} started on http://0.0.0.0:{port}" in text


def test_existing_logs_are_rotated_never_truncated(daemon, home: Path) -> None:
    logs = home / "logs"
    logs.mkdir()
    (logs / "master-stdout.log").write_text("previous run\n")
    (logs / "master-stderr.log").write_text("")
    result = daemon()
    assert result.returncode == 0, result.stderr
    rotated = [p for p in logs.iterdir() if p.name.startswith("master-stdout.log.")]
    assert len(rotated) == 1
    assert rotated[0].read_text() == "previous run\n"
    stamp = rotated[0].name.removeprefix("master-stdout.log.")
    assert len(stamp) == 15 and stamp[8] == "." and stamp.replace(".", "").isdigit()
    assert not [p for p in logs.iterdir() if p.name.startswith("master-stderr.log.")]


def test_custom_log_paths_get_parent_dirs_and_no_shell(daemon, tmp_path: Path) -> None:
    """A `--stderr` value with shell syntax is only a strange file name."""
    pwned = tmp_path / "pwned"
    strange = tmp_path / "deep" / "er" / f"err.log; touch {pwned}"
    out = tmp_path / "deep" / "out $(touch {pwned}).log"
    result = daemon(f"--stdout={out}", f"--stderr={strange}")
    assert result.returncode == 0, result.stderr
    assert strange.exists() and out.exists()
    assert not pwned.exists()


def test_stderr_output_just_before_ready_fails_the_start(daemon, title: str) -> None:
    """The output lands microseconds before egg-ready: a once-a-second poll (egg-scripts)
    would report success; the final check at ready must catch it."""
    started = time.monotonic()
    result = daemon(FAKE_MODE="stderr-then-ready")
    assert result.returncode == 1
    assert time.monotonic() - started < 10
    assert f"[eggscripts] {title} failed to start: the cluster wrote to its stderr log" in (
        result.stderr
    )
    assert "warning: something went wrong just before ready" in result.stderr
    assert f"[eggscripts] error: {title} was not started" in result.stderr
    assert "started on" not in result.stdout
    wait_until(lambda: not alive(title), timeout=3)


def test_ignore_stderr_lets_it_start(daemon, title: str) -> None:
    result = daemon("--ignore-stderr", FAKE_MODE="stderr-then-ready")
    assert result.returncode == 0, result.stderr
    assert "started on" in result.stdout


def test_master_dying_silently_fails_at_once(daemon, title: str) -> None:
    started = time.monotonic()
    result = daemon("--ignore-stderr", FAKE_MODE="exit")
    assert result.returncode == 1
    assert time.monotonic() - started < 5
    assert "the cluster exited before it was ready" in result.stderr
    assert not alive(title)


def test_startup_error_message_and_stderr_tail(daemon, title: str) -> None:
    result = daemon(FAKE_MODE="startup-error")
    assert result.returncode == 1
    assert "failed to start: " in result.stderr
    assert "app boot failed: app.py:3: RuntimeError: nope" in result.stderr
    assert "[eggscripts] the last line of " in result.stderr
    assert "master-stderr.log:" in result.stderr


@pytest.mark.parametrize("extra", [[], ["--ignore-stderr"]])
def test_timeout_stops_everything_it_started(daemon, title: str, extra: list[str]) -> None:
    started = time.monotonic()
    result = daemon("--timeout=1500", *extra, FAKE_MODE="hang")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert 1.4 < elapsed < 8
    assert "not ready after the 1500 ms timeout (--timeout)" in result.stderr
    assert "stopped what was started (pids " in result.stderr
    assert not alive(title)


def test_second_start_with_same_title_is_refused(daemon, title: str) -> None:
    assert daemon().returncode == 0
    before = {p.pid for procs in cluster_processes(title).values() for p in procs}
    result = daemon()
    assert result.returncode == 1
    assert f"a cluster titled {title} is already running (master pid" in result.stderr
    assert "eggscripts stop --title=" in result.stderr
    after = {p.pid for procs in cluster_processes(title).values() for p in procs}
    assert before == after


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_interrupting_the_wait_stops_the_half_started_cluster(
    app: Path, home: Path, title: str, port: int, sig: signal.Signals
) -> None:
    fake = fake_python(app.parent)
    proc = subprocess.Popen(
        [EGGSCRIPTS, "start", "--daemon", f"--python={fake}", f"--title={title}",
         f"--port={port}", "--workers=1", str(app)],
        env=cli_env(home, FAKE_MODE="hang"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    wait_until(lambda: cluster_processes(title)["app"], timeout=10)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert "failed to start: interrupted" in err
    assert not alive(title)
