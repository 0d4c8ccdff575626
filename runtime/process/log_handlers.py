"""The log formatters and handlers of every cluster process (set up by
runtime/process/log_setup.py).

Logging never kills a process. The standard handlers let an `OSError` escape
from a reopen (a release switch removed the directory, a full disk), and print one
traceback per record when a write fails; on a full disk that was a traceback per log line,
and a forked worker closing its inherited copy of the master's handlers flushed the
master's unwritten lines and died at birth. Here a failed write drops the line and its
buffer, prints one warning per process to stderr until a write succeeds again, and a
forked child drops the inherited handlers without flushing them. Files are 0600.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import logging.handlers
import os
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    _StreamHandler = logging.StreamHandler[TextIO]
else:  # Python 3.10's StreamHandler cannot be subscripted at run time
    _StreamHandler = logging.StreamHandler

from runtime.process.errors import report
from runtime.process.private_files import open_private

ROLE_LABELS = {"master": "master", "agent": "agent_worker", "app": "app_worker"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(process)d [{label}] %(message)s"


# -- formatters ------------------------------------------------------------------------------
class TextFormatter(logging.Formatter):
    def __init__(self, role: str, worker_id: int | None) -> None:
        label = ROLE_LABELS.get(role, role) + (f"#{worker_id}" if worker_id else "")
        super().__init__(TEXT_FORMAT.format(label=label))


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the traceback, if any, is one string field."""

    def __init__(self, role: str, worker_id: int | None) -> None:
        super().__init__()
        self.role = role
        self.worker_id = worker_id

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        zone = time.strftime("%z", time.localtime(record.created))
        entry: dict[str, Any] = {
            "time": f"{stamp}.{int(record.msecs):03d}{zone[:3]}:{zone[3:]}",
            "level": record.levelname,
            "pid": record.process,
            "role": self.role,
            "worker": self.worker_id,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def make_formatter(role: str, log_format: str, worker_id: int | None) -> logging.Formatter:
    cls = JsonFormatter if log_format == "json" else TextFormatter
    return cls(role, worker_id)


# -- handlers --------------------------------------------------------------------------------
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


class LogFile(logging.handlers.WatchedFileHandler):
    """WatchedFileHandler that creates its file 0600 and never raises or spams.

    `emit` is rewritten rather than extended because the parent's reopen check and lazy
    open run outside its own error handling."""

    def _open(self) -> io.TextIOWrapper:
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

    def reopen(self) -> None:
        """SIGUSR1 after logrotate: open the path afresh now (the new file exists at once,
        as logrotate's `postrotate` expects); a failure only warns, like a write."""
        self.acquire()
        try:
            stream, self.stream = self.stream, None
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.flush()
                with contextlib.suppress(Exception):
                    stream.close()
            try:
                self.stream = self._open()
                self._statstream()
            except OSError as exc:
                _WriteTrouble.failed(self.baseFilename, exc)
        finally:
            self.release()

    def discard_stream(self) -> None:
        """Forget the open file and what it buffered; the next record reopens the path."""
        stream, self.stream = self.stream, None
        if stream is not None:
            _silence(stream)


class Console(_StreamHandler):
    """The terminal or the daemon's stdout/stderr file: the same one warning on failure."""

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
            handler.stream = None
            _silence(stream)
        with contextlib.suppress(Exception):
            handler.close()  # with no stream left: only unregisters it
    _WriteTrouble.failing = False  # this process has not warned yet
