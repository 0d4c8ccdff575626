"""Start-up probe for bench/profile.py, loaded only there (its directory goes first on
PYTHONPATH, which every process of the cluster inherits): each process appends to
`$EGGSCRIPTS_PROBE_DIR/<pid>.log` one line per event, `<monotonic s> <cpu s> <event> <arg>`:
`start` (this file runs, right after the interpreter's own init), `import <module>` (a module
actually loaded, from the `import` audit event), `fork <n>` (the process's n-th fork, from
0), `spawn`, `exec` (from their audit events; each fork also writes `<pid>.fork<n>`, the
modules that child starts with) and `child <parent pid> <n>` first thing in a forked child.
CLOCK_MONOTONIC is system-wide, so the lines of all processes share one time axis.

A forked agent closes every descriptor it inherited, this probe's log included: the log
is reopened whenever its descriptor no longer is the file it opened (file objects left
behind are kept, so none is ever closed on a number reused since)."""

import os
import sys
import time

_DIR = os.environ.get("EGGSCRIPTS_PROBE_DIR")
_state = {"pid": 0, "fh": None, "ino": None, "forks": 0, "stale": []}


def _out():
    pid = os.getpid()
    fh = _state["fh"]
    try:
        ok = _state["pid"] == pid and os.fstat(fh.fileno()).st_ino == _state["ino"]
    except (OSError, AttributeError, ValueError):
        ok = False
    if not ok:
        _state["stale"].append(fh)
        _state["pid"] = pid
        fh = open(os.path.join(_DIR, f"{pid}.log"), "a", buffering=1)  # noqa: SIM115
        _state["fh"], _state["ino"] = fh, os.fstat(fh.fileno()).st_ino
    return fh


def _write(event, arg=""):
    _out().write(f"{time.monotonic():.6f} {time.process_time():.6f} {event} {arg}\n")


def _hook(event, args):
    if event == "import":
        _write("import", args[0])
    elif event == "os.fork":
        n = _state["forks"]
        with open(os.path.join(_DIR, f"{os.getpid()}.fork{n}"), "w") as fh:
            fh.write("\n".join(sorted(sys.modules)))
        _write("fork", n)
        _state["forks"] = n + 1  # the child reads it back: its own is this one
    elif event == "os.posix_spawn":
        _write("spawn", os.fspath(args[1][2] if len(args[1]) > 2 else args[0]))
    elif event == "os.exec":
        _write("exec", " ".join(str(a) for a in args[1][:3]))
    elif event == "subprocess.Popen":
        _write("popen", os.fspath(args[0]))


def _in_child():
    _write("child", f"{os.getppid()} {_state['forks'] - 1}")
    _state["forks"] = 0


if _DIR:
    _write("start", " ".join(sys.orig_argv[:3]))
    os.register_at_fork(after_in_child=_in_child)
    sys.addaudithook(_hook)
