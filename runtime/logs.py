"""Per-process logging to the files of SPEC §5.

All processes of a cluster append to the same files (O_APPEND keeps lines whole), and the
handlers reopen a file that logrotate moved away, so nothing is ever truncated or written
into a rotated file. Each line carries time, level, pid and role. Files are created 0600
in 0700 directories (runtime/private_files.py).

Logging never kills a process (SPEC §5). The standard handlers let an `OSError` escape
from a reopen, and print one traceback per record when a write fails; on a full disk that
was a traceback per log line, and a forked worker closing its inherited copy of the
master's handlers flushed the master's unwritten lines and died at birth. Here a failed
write drops the line and its buffer, prints one warning per process to stderr until a
write succeeds again, and a forked child drops the inherited handlers without flushing.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys

from runtime.errors import StartupError, report
from runtime.private_files import make_private_dirs, open_private

ROLE_LABELS = {"master": "master", "agent": "agent_worker", "app": "app_worker"}
FORMAT = "%(asctime)s %(levelname)s %(process)d [{label}] %(message)s"


def log_dir(base_dir: str, app_name: str) -> str:
    """Under the real BASE_DIR, resolved when the process starts: switching a release
    symlink (`current` -> `releases/43`) must not move a running process's logs into a
    directory that may not exist; processes started by the next reload log there."""
    return os.path.join(os.path.realpath(base_dir), "logs", app_name)


def role_file(role: str, app_name: str) -> str:
    return {"master": "master.log", "agent": "egg-agent.log"}.get(role, f"{app_name}-web.log")


class _WriteTrouble:
    """Process-wide: has a log write failed since the last one that worked?"""

    failing = False

    @classmethod
    def failed(cls, where: str, exc: OSError) -> None:
        if not cls.failing:
            cls.failing = True
            report(
                f"pid {os.getpid()}: cannot write {where}: "
                f"{exc.strerror or exc} (errno {exc.errno}); log lines are dropped until "
                "writing works again (one warning per process)"
            )

    @classmethod
    def worked(cls) -> None:
        if cls.failing:
            cls.failing = False
            report(f"pid {os.getpid()}: log files are writable again")


def _silence(stream: object) -> None:
    """Close `stream` without writing what it buffered: its fd is first pointed at
    /dev/null, so the flush that `close()` always does goes nowhere (and the fd number is
    released, never left for a later file to receive stale bytes)."""
    with contextlib.suppress(Exception):
        fd = stream.fileno()  # type: ignore[attr-defined]
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)
    with contextlib.suppress(Exception):
        stream.close()  # type: ignore[attr-defined]


class SafeFileHandler(logging.handlers.WatchedFileHandler):
    """WatchedFileHandler that creates its file 0600 and never raises or spams.

    `emit` is rewritten rather than extended because the parent's reopen check and lazy
    open run outside its own error handling."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = open_private(self.baseFilename)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.reopenIfNeeded()
            if self.stream is None:
                self.stream = self._open()
                self._statstream()
            self.stream.write(self.format(record) + self.terminator)
            self.stream.flush()
        except RecursionError:
            raise
        except OSError as exc:
            self.discard_stream()
            _WriteTrouble.failed(self.baseFilename, exc)
        except Exception:
            self.handleError(record)
        else:
            _WriteTrouble.worked()

    def discard_stream(self) -> None:
        """Forget the open file and what it buffered; the next record reopens the path."""
        stream, self.stream = self.stream, None
        if stream is not None:
            _silence(stream)


class SafeStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Console handler (the master's stdout, a file in daemon mode): same one warning."""

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            _WriteTrouble.failed("stdout", exc)
        else:
            super().handleError(record)


def drop_inherited_handlers() -> None:
    """In a forked child, first thing: forget the parent's handlers WITHOUT flushing them.

    Their buffers hold the parent's unwritten lines (on a full disk, every line since it
    filled); flushing them from the child would write the parent's lines twice at best and
    raise ENOSPC at birth at worst. Console handlers keep their stream (it is the child's
    stdout too); file handlers are silenced (see `_silence`)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        stream = getattr(handler, "stream", None)
        if isinstance(handler, logging.FileHandler) and stream is not None:
            handler.stream = None  # type: ignore[assignment]
            _silence(stream)
        with contextlib.suppress(Exception):
            handler.close()  # with no stream left: only unregisters it
    _WriteTrouble.failing = False  # this process has not warned yet


def setup_logging(
    role: str,
    base_dir: str,
    app_name: str,
    stdout: bool = False,
    directory: str | None = None,
    strict: bool = False,
) -> logging.Logger:
    """Route the root logger to this role's file, common-error.log and optionally stdout.

    Called once per process, and again in a forked child, which drops the master's
    handlers first. A log directory that cannot be used is reported on stderr; with
    `strict` (the master) it then raises StartupError, after the console handler is in
    place, so a start never runs with no log files at all.
    """
    drop_inherited_handlers()
    root = logging.getLogger()
    fmt = logging.Formatter(FORMAT.format(label=ROLE_LABELS.get(role, role)))
    if stdout:
        console = SafeStreamHandler(sys.stdout)
        console.setFormatter(fmt)
        root.addHandler(console)
    root.setLevel(logging.INFO)
    directory = directory or log_dir(base_dir, app_name)
    try:
        make_private_dirs(directory)
        main = SafeFileHandler(os.path.join(directory, role_file(role, app_name)))
        errors = SafeFileHandler(os.path.join(directory, "common-error.log"))
    except OSError as exc:
        text = f"cannot write logs to {directory}: {exc.strerror or exc}"
        if strict:
            raise StartupError(text) from None
        report(text)
    else:
        main.setFormatter(fmt)
        errors.setFormatter(fmt)
        errors.setLevel(logging.ERROR)
        root.addHandler(main)
        root.addHandler(errors)
    return logging.getLogger(f"eggscripts.{role}")
