"""The runtime's half of the early start (runtime/process/warm_start.py): which launches
it may run in its own interpreter, and the state it takes from them."""

from __future__ import annotations

import json
import os
import sys

import pytest

from runtime.process import warm_start

ARGV = [sys.executable, "-m", "runtime.start_cluster"]


def test_rebind_puts_this_process_descriptor_numbers_in_the_options() -> None:
    options = json.dumps({"title": "shop", "ready_fd": 9, "lock_fd": 8, "workers": 2})
    rebound = json.loads(warm_start.rebind(options, {"ready_fd": 4, "lock_fd": 5, "stdout": 6}))
    assert rebound == {"title": "shop", "ready_fd": 4, "lock_fd": 5, "workers": 2}


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({}, True),
        ({"EGG_SERVER_ENV": "prod", "DATABASE_URL": "postgres://db"}, True),  # --env-file's
        ({"PYTHONPATH": "/elsewhere"}, False),
        ({"LC_ALL": "C.UTF-8"}, False),
        ({"TZ": "Asia/Tokyo"}, False),
        ({"HOME": "/home/other"}, False),
        ({"LD_PRELOAD": "/lib/x.so"}, False),
        ({"UV_THREADPOOL_SIZE": "8"}, False),
    ],
)
def test_a_launch_runs_here_unless_the_interpreter_would_start_otherwise(
    change: dict[str, str], same: bool
) -> None:
    current = {"PATH": "/usr/bin", "HOME": "/root", "TZ": "UTC"}
    env = {**current, **change}
    assert warm_start.same_interpreter([*ARGV, "{}"], env, current) is same


def test_a_variable_removed_at_start_time_counts_as_a_change() -> None:
    current = {"PATH": "/usr/bin", "PYTHONPATH": "/x"}
    assert not warm_start.same_interpreter([*ARGV, "{}"], {"PATH": "/usr/bin"}, current)


def test_another_python_is_exec_d() -> None:
    assert not warm_start.same_interpreter(["/opt/py/bin/python3", *ARGV[1:], "{}"], {}, {})
    assert not warm_start.same_interpreter([sys.executable, "-m", "other", "{}"], {}, {})


def test_the_launch_environment_replaces_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "environ", {"KEEP": "1", "GONE": "2", "CHANGED": "old"})
    warm_start._take_environment({"KEEP": "1", "CHANGED": "new", "ADDED": "3"})
    assert os.environ == {"KEEP": "1", "CHANGED": "new", "ADDED": "3"}


def test_a_foreground_runtime_forwards_sigterm_and_keeps_what_was_ignored() -> None:
    import signal

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        front = warm_start._Front(cli_pid=2**22 + 7)  # no such process: the kill is skipped
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # the CLI answers Ctrl-C
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN  # still nohup's
        os.kill(os.getpid(), signal.SIGTERM)
        assert front.stopped == signal.SIGTERM  # passed on, and no launch will run
        front.restore()
        assert signal.getsignal(signal.SIGTERM) == saved[signal.SIGTERM]
        assert signal.getsignal(signal.SIGINT) == saved[signal.SIGINT]
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
