"""systemd's `Type=notify` protocol, spoken by the master (sd_notify(3), no dependency).

The protocol is one datagram of `KEY=value` lines sent to the AF_UNIX socket named by
`$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). gunicorn sends `READY=1`
before any worker exists and nothing else; the master here says the truth at each step:

- `READY=1` only when every app worker accepts (and again after a reload);
- `STATUS=` lines with progress (k/N workers, reloading, draining);
- `RELOADING=1` + `MONOTONIC_USEC` at the start of a reload (recent systemd requires the
  timestamp), `STOPPING=1` when a stop begins;
- `EXTEND_TIMEOUT_USEC` while a slow boot still makes progress, so `TimeoutStartSec` does
  not kill a cluster whose workers are coming up one by one;
- `WATCHDOG=1` every half of `$WATCHDOG_USEC` while the loop runs (`WatchdogSec=`).

Sending never blocks and never raises: a full socket buffer or a vanished systemd costs a
notification, not the cluster. Without `$NOTIFY_SOCKET` every method is a no-op, so the
master calls them unconditionally. `Notifier.from_environ()` removes the variables from
`os.environ` (sd_notify's `unset_environment`): children must not speak for the master,
and systemd ignores them anyway under the default `NotifyAccess=main`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import MutableMapping

ENV_SOCKET = "NOTIFY_SOCKET"
ENV_WATCHDOG_USEC = "WATCHDOG_USEC"
ENV_WATCHDOG_PID = "WATCHDOG_PID"

log = logging.getLogger("eggscripts.master")


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, the clock systemd compares `MONOTONIC_USEC` to."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def socket_address(value: str) -> str | bytes | None:
    """The address to `sendto` for a `$NOTIFY_SOCKET` value; None when unusable.

    `@name` is the abstract namespace (a leading NUL byte); `/path` a filesystem socket.
    Other forms (systemd's `vsock:` addresses for VMs) are not supported."""
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def watchdog_interval(environ: MutableMapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between two `WATCHDOG=1` (half of `$WATCHDOG_USEC`, as sd_watchdog_enabled
    recommends), or None when the watchdog is off or meant for another process."""
    raw = environ.get(ENV_WATCHDOG_USEC, "")
    owner = environ.get(ENV_WATCHDOG_PID)
    if owner and owner.strip() != str(os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(raw)
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


class Notifier:
    """One datagram socket to systemd, opened once; every method is safe to call always."""

    def __init__(self, address: str | bytes | None, watchdog: float | None = None) -> None:
        self.address = address
        self.watchdog_interval = watchdog
        self.sock: socket.socket | None = None
        self._warned = False
        self.held = False  # a new master of an upgrade: silent until it is the main pid
        if address is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.setblocking(False)

    @classmethod
    def from_environ(
        cls, environ: MutableMapping[str, str] | None = None, unset: bool = True
    ) -> Notifier:
        env = os.environ if environ is None else environ
        raw = env.get(ENV_SOCKET, "")
        address = socket_address(raw) if raw else None
        if raw and address is None:
            log.warning("unsupported %s=%r: systemd notifications are off", ENV_SOCKET, raw)
        watchdog = watchdog_interval(env) if address is not None else None
        if unset:
            for key in (ENV_SOCKET, ENV_WATCHDOG_USEC, ENV_WATCHDOG_PID):
                env.pop(key, None)
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        return self.sock is not None

    def send(self, *lines: str) -> bool:
        """Send one datagram of `KEY=value` lines; False when it could not be sent."""
        if self.sock is None or self.address is None or not lines or self.held:
            return False
        payload = "\n".join(lines).encode()
        try:
            self.sock.sendto(payload, self.address)
        except OSError as exc:
            if not self._warned:  # once: systemd gone or its queue full, keep serving
                self._warned = True
                log.warning("cannot notify systemd (%s): %s", self.address, exc)
            return False
        return True

    # -- the messages ----------------------------------------------------------------------
    def ready(self, status: str | None = None) -> bool:
        """Every app worker accepts (also the end of a reload)."""
        return self.send("READY=1", *_status(status))

    def status(self, text: str) -> bool:
        return self.send(*_status(text))

    def reloading(self, status: str | None = None) -> bool:
        """A reload starts; `READY=1` must follow when it is over."""
        return self.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}", *_status(status))

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *_status(status))

    def extend_timeout(self, seconds: float, status: str | None = None) -> bool:
        """Ask systemd for `seconds` more (from now) before its start/stop timeout fires."""
        usec = max(1, int(seconds * 1_000_000))
        return self.send(f"EXTEND_TIMEOUT_USEC={usec}", *_status(status))

    def watchdog(self) -> bool:
        """Keep-alive: the master loop is running. Call every `watchdog_interval` s."""
        if self.watchdog_interval is None:
            return False
        return self.send("WATCHDOG=1")

    def main_pid(self, pid: int) -> bool:
        """systemd's main pid is now `pid` (a new master took over, `reload --upgrade`)."""
        return self.send(f"MAINPID={pid}", *_status(f"handed over to the new master {pid}"))

    def environ(self) -> dict[str, str]:
        """The variables a successor master needs to speak to systemd in our place."""
        address = self.address
        if self.sock is None or address is None:
            return {}
        raw = "@" + address[1:].decode() if isinstance(address, bytes) else address
        env = {ENV_SOCKET: raw}
        if self.watchdog_interval is not None:
            env[ENV_WATCHDOG_USEC] = str(int(self.watchdog_interval * 2_000_000))
        return env

    def fileno(self) -> int | None:
        """The socket's fd, for the list of master-only fds a forked worker closes."""
        return self.sock.fileno() if self.sock is not None else None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _status(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return ("STATUS=" + " ".join(text.split()),)  # one line: a newline would end the field
