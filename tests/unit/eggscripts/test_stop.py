"""`eggscripts stop` against real clusters started by `eggscripts start`: the
cases with no process started (the others are in tests/process/eggscripts/test_stop.py)."""

from __future__ import annotations

import os

import psutil

from eggscripts.finding import procs as eggprocs


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


def test_titles_are_read_from_proc_exactly_as_psutil_reads_them() -> None:
    """`find` pre-filters on /proc/<pid>/cmdline without psutil: its split must be
    psutil's for every process there is (setproctitle'd or not)."""
    compared = 0
    for proc in psutil.process_iter():
        try:
            with open(f"/proc/{proc.pid}/cmdline", "rb") as fh:
                raw = fh.read()
            expected = proc.cmdline()
        except (OSError, psutil.Error):
            continue  # gone meanwhile, or a zombie
        assert eggprocs.split_cmdline(os.fsdecode(raw)) == expected, proc.pid
        compared += 1
    assert compared > 1
    assert eggprocs.split_cmdline("eggscripts-app --title=t --base-dir=/srv\x00") == [
        "eggscripts-app", "--title=t", "--base-dir=/srv"
    ]  # fmt: skip


def test_a_recycled_pid_is_never_taken_for_the_process() -> None:
    me = os.getpid()
    started = eggprocs.start_ticks(me)
    assert started is not None
    assert eggprocs.process(me, started).pid == me
    assert eggprocs.process(me, started + 1) is None  # same pid, another process
    assert eggprocs.process(me, None) is None  # unknown: never signal it
