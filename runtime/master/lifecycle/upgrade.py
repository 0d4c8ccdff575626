"""`eggscripts reload --upgrade` / SIGUSR2, the old master's half: hand the cluster to a
new master running the newly installed eggscripts, without refusing a connection.

gunicorn's USR2 starts a new arbiter and leaves the old one running: the operator then
sends WINCH and QUIT to the old pid found in a renamed pidfile. Here it is one step:

1. The old master (READY -> UPGRADING) starts `python -m runtime.start_cluster` with its
   launch options plus the fds it hands down: the listening socket (`listen_fd`, adopted
   as a socket-activated one is, runtime/master/production/listener.py; never a second bind), the
   control socket (`control_fd`), the title lock's open file (`lock_fd`: flock belongs to
   the open file, so the lock never has a moment without a holder), a ready channel
   (`ready_fd`, the same frames `start --daemon` reads) and the handover pipe.
2. The new master boots its own agent and workers with the new code; they accept on the
   shared socket beside the old workers. It reports `egg-ready`, but does not act as the
   owner yet: it does not accept on the control socket, nor write its pid in the lock.
3. The old master hands over: it stops accepting control requests (without removing the
   socket's name), tells systemd `MAINPID=<new pid>` (runtime/master/production/notify.py) and
   closes its end of the handover pipe. Only at that end of file does the new master
   take over (runtime/master/lifecycle/successor.py). Never two owners, never none.
4. The old master answers the request with the new pid and version, then drains and
   exits (UPGRADING -> STOPPING) as a stop does: its workers finish what they serve.

A new master that fails (its startup error, an early exit, the startup timeout) changes
nothing: the old master goes back to READY and keeps serving; the request fails with the
new master's one line. The handover pipe is closed only once that master is gone, so a
failed successor can never take over.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from runtime.contract import handoff
from runtime.contract.exitcodes import ExitCode
from runtime.contract.framing import FrameDecoder, ProtocolError
from runtime.contract.locks import claim
from runtime.contract.messages import Action
from runtime.master.children.states import Phase
from runtime.master.control.connections import ControlServer
from runtime.master.lifecycle.cluster_state import ClusterState
from runtime.master.lifecycle.ops import MasterOps
from runtime.master.lifecycle.timers import Timer, Timers
from runtime.master.production.listener import keep_unix_path
from runtime.master.production.wiring import Production
from runtime.process.cluster_options import ClusterOptions

# (event, data): "progress" {"message"}, "done" {"pid", "version", ...}, "fail" {"error", "exit"}
UpgradeReport = Callable[[str, dict[str, Any]], None]
# How much longer than its own startup timeout the new master gets to say how it went.
ANSWER_GRACE = 5.0
POLL = 0.1  # s between two looks at a failed new master that has not exited yet


class Upgrade:
    def __init__(
        self,
        launch: ClusterOptions,
        state: ClusterState,
        ops: MasterOps,
        selector: selectors.BaseSelector,
        timers: Timers,
        control: ControlServer | None,
        production: Production,
    ) -> None:
        """`launch`: the options this master was started with (before it filled in the
        app name and log directories: the new release may say otherwise)."""
        self.launch = launch
        self.state = state
        self.ops = ops
        self.selector = selector
        self.timers = timers
        self.control = control
        self.production = production
        self.report: UpgradeReport = lambda event, data: None
        self.proc: subprocess.Popen[bytes] | None = None
        self.fd: int | None = None  # our end of the new master's ready channel
        self.handover: int | None = None  # its end of file: "the cluster is yours"
        self.decoder = FrameDecoder()
        self.deadline: Timer | None = None
        self.finished = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def log(self) -> logging.Logger:
        return self.state.log

    def begin(self, report: UpgradeReport | None = None) -> str | None:
        """READY -> UPGRADING with the new master started; else why not (one line)."""
        s = self.state
        if s.phase is not Phase.READY or s.listener is None:
            return f"cannot upgrade while the cluster is {s.phase}"
        error = self.spawn(s.listener)
        if error is None:
            self.report = report or self.report
            s.move_to(Phase.UPGRADING)
            s.upgrade = self
            self.production.upgrade_started()
        return error

    def spawn(self, listener: socket.socket) -> str | None:
        """Start the new master with the fds it takes over; why it could not, else None."""
        ready_r, ready_w = os.pipe()
        hand_r, hand_w = os.pipe()
        control = self.control.sock if self.control is not None else None
        options = dataclasses.replace(
            self.launch,
            listen_fd=listener.fileno(),
            ready_fd=ready_w,
            handover_fd=hand_r,
            control_fd=control.fileno() if control is not None else None,
            health_fd=self.production.health_fd(),
        )
        handed = [options.listen_fd, ready_w, hand_r, options.control_fd, options.lock_fd]
        handed.append(options.health_fd)
        argv = [sys.executable, "-m", "runtime.start_cluster", options.to_json()]
        env = {**os.environ, **self.production.successor_env()}
        try:
            fds = sorted({fd for fd in handed if fd is not None})
            # Started where `start` starts a master; it enters BASE_DIR by its path, so a
            # `current` symlink switched to a new release since is followed (our own cwd
            # is the old release's) (runtime/process/import_path.py).
            cwd = handoff.START_DIR
            self.proc = subprocess.Popen(argv, pass_fds=fds, env=env, cwd=cwd)
        except OSError as exc:
            os.close(ready_r)
            os.close(hand_w)
            return f"cannot start a new master: {exc}"
        finally:
            os.close(ready_w)
            os.close(hand_r)
        os.set_inheritable(ready_r, False)
        os.set_inheritable(hand_w, False)
        os.set_blocking(ready_r, False)
        self.fd, self.handover = ready_r, hand_w
        self.selector.register(ready_r, selectors.EVENT_READ, self)
        self.production.spare(self.proc.pid)
        wait = self.launch.startup_timeout / 1000 + ANSWER_GRACE
        self.deadline = self.timers.call_later(wait, self.on_timeout)
        self.log.info("upgrade: started a new master (pid %d) on the same socket", self.proc.pid)
        return None

    def fds(self) -> list[int]:
        """Master-only fds a forked worker closes."""
        return [fd for fd in (self.fd, self.handover) if fd is not None]

    def fileno(self) -> int:
        return self.fd if self.fd is not None else -1

    # -- the new master's ready channel ---------------------------------------------------
    def on_event(self, mask: int) -> None:
        if self.fd is None:
            return
        try:
            data = os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.fail("the new master exited before it was ready (see the log)")
            return
        try:
            frames = self.decoder.feed(data)
        except ProtocolError as exc:
            self.fail(f"the new master sent a bad frame: {exc}")
            return
        for frame in frames:
            if self.finished:
                return
            self.on_frame(str(frame.get("action")), frame.get("data"))

    def on_frame(self, action: str, data: Any) -> None:
        data = data if isinstance(data, dict) else {}
        who = f"new master {self.pid}"
        if action == Action.AGENT_START:
            self.report("progress", {"message": f"{who}: agent started"})
        elif action == Action.APP_START:
            ready, total = data.get("ready"), data.get("total")
            self.report("progress", {"message": f"{who}: {ready}/{total} workers ready"})
        elif action == Action.STARTUP_ERROR:
            code = data.get("code")
            code = code if isinstance(code, int) and code else ExitCode.ERROR
            self.fail(str(data.get("message") or "the new master could not start"), code)
        elif action == Action.EGG_READY:
            self.hand_over(data)

    def on_timeout(self) -> None:
        self.deadline = None
        ms = self.launch.startup_timeout
        self.fail(f"the new master did not become ready within {ms} ms (startup timeout)")

    # -- outcomes ---------------------------------------------------------------------------
    def hand_over(self, ready: dict[str, Any]) -> None:
        assert self.proc is not None and self.handover is not None
        if self.proc.poll() is not None:
            self.fail("the new master exited right after it was ready (see the log)")
            return
        self.finish()
        pid = self.proc.pid
        if self.control is not None:
            self.control.hand_off()
        listener = self.state.listener
        if listener is not None and listener.family == socket.AF_UNIX:
            keep_unix_path()
        self.production.hand_over(pid)
        if self.state.options.lock_fd is not None:  # the lock's owner from now on
            claim(self.state.options.lock_fd, pid)
        os.close(self.handover)  # the new master owns the cluster from here on
        self.handover = None
        version = ready.get("version")
        self.log.info(
            "upgrade: handed over to the new master (pid %d, eggscripts %s)", pid, version
        )
        self.report(
            "done",
            {"pid": pid, "old_pid": os.getpid(), "version": version,
             "workers": ready.get("workers"), "agent": ready.get("agent")},
        )  # fmt: skip
        self.ended(pid)

    def ended(self, new_pid: int | None) -> None:
        """The new master took over (its pid): drain and exit; or it failed: serve on."""
        s = self.state
        s.upgrade = None
        if s.phase is not Phase.UPGRADING:
            return  # stopping anyway
        if new_pid is None:
            s.move_to(Phase.READY)
            self.production.ready()  # READY=1 again: we still serve
        else:
            self.ops.begin_close(ExitCode.OK, f"handed over to the new master (pid {new_pid})")

    def fail(self, text: str, code: int = ExitCode.ERROR) -> None:
        """The old master keeps serving; the new one is stopped before the pipe closes."""
        if self.finished:
            return
        self.finish()
        self.log.error("upgrade failed: %s; the running master keeps serving", text)
        self.report("fail", {"error": text, "exit": int(code)})
        self.ended(None)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # already closing itself, or hung
            grace = (self.launch.kill_app_timeout + self.launch.kill_agent_timeout) / 1000
            self.timers.call_later(grace + 1.0, self.kill_left)
        self.timers.every(POLL, self.close_when_gone)

    def abort(self, reason: str) -> None:
        """This master stops while the new one boots: the new one stops too."""
        self.fail(f"cancelled: {reason}")

    def kill_left(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.log.warning("upgrade: SIGKILL the new master %d (it did not stop)", self.pid)
            self.proc.kill()

    def close_when_gone(self) -> bool:
        """Timer: close the handover pipe once the failed new master has exited (the
        loop reaps it: `poll()` then reports it gone). False stops the timer."""
        if self.proc is not None and self.proc.poll() is None:
            return True
        if self.handover is not None:
            os.close(self.handover)
            self.handover = None
        return False

    def finish(self) -> None:
        self.finished = True
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        if self.fd is not None:
            self.selector.unregister(self.fd)
            os.close(self.fd)
            self.fd = None
