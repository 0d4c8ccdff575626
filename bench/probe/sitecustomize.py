"""Start-up probe for bench/profile.py, loaded only there (its directory goes first on
PYTHONPATH, which every process of the cluster inherits): each process appends to
`$EGGSCRIPTS_PROBE_DIR/<pid>.log` one line per event, `<monotonic s> <cpu s> <event> <arg>`:
`start` (this file runs, right after the interpreter's own init), `import <module>` (a module
actually loaded, from the `import` audit event), `fork`, `spawn`, `exec` (from their audit
events; `fork` also writes `<pid>.fork`, the modules a forked child starts with) and
`child <parent pid>` first thing in a forked child. CLOCK_MONOTONIC is system-wide, so the
lines of all processes share one time axis."""

import os
import sys
import time

_DIR = os.environ.get("EGGSCRIPTS_PROBE_DIR")
_state = {"pid": 0, "fh": None, "forked": False}


def _out():
    pid = os.getpid()
    if _state["pid"] != pid:
        _state["pid"] = pid
        _state["fh"] = open(os.path.join(_DIR, f"{pid}.log"), "a", buffering=1)  # noqa: SIM115
        _state["forked"] = False
    return _state["fh"]


def _write(event, arg=""):
    _out().write(f"{time.monotonic():.6f} {time.process_time():.6f} {event} {arg}\n")


def _hook(event, args):
    if event == "import":
        _write("import", args[0])
    elif event == "os.fork":
        if not _state["forked"]:
            _state["forked"] = True
            with open(os.path.join(_DIR, f"{os.getpid()}.fork"), "w") as fh:
                fh.write("\n".join(sorted(sys.modules)))
        _write("fork")
    elif event == "os.posix_spawn":
        _write("spawn", os.fspath(args[1][2] if len(args[1]) > 2 else args[0]))
    elif event == "os.exec":
        _write("exec", " ".join(str(a) for a in args[1][:3]))
    elif event == "subprocess.Popen":
        _write("popen", os.fspath(args[0]))


if _DIR:
    _write("start", " ".join(sys.orig_argv[:3]))
    os.register_at_fork(after_in_child=lambda: _write("child", os.getppid()))
    sys.addaudithook(_hook)
