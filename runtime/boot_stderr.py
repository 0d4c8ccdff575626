"""Until the cluster is ready, ERROR records of the app and agent loggers also go to stderr.

egg's loggers write errors to stderr until the app is ready, and egg-scripts' daemon
start relies on it: an `app.logger.error(...)` during boot lands in the stderr log, and
`start --daemon` fails instead of reporting a healthy start (SPEC §4, §5). Only ERROR and
above: warnings (Python's `warnings` included) never fail a start. `end()` is called when
`egg-ready` arrives (EggCore.server_did_ready); from then on the log files alone get them.
"""

from __future__ import annotations

import logging
import sys

LOGGERS = ("eggscripts.app", "eggscripts.agent")


class BootStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the stderr of the moment (not the one at creation)."""

    def __init__(self, label: str) -> None:
        super().__init__(sys.stderr)
        self.setLevel(logging.ERROR)
        fmt = "%(asctime)s %(levelname)s %(process)d [{label}] %(message)s"
        self.setFormatter(logging.Formatter(fmt.format(label=label)))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


_installed: dict[str, BootStderrHandler] = {}


def start(logger: logging.Logger, label: str) -> None:
    """Also send `logger`'s ERROR records to stderr (once per logger, idempotent)."""
    if logger.name not in LOGGERS or logger.name in _installed:
        return
    handler = BootStderrHandler(label)
    logger.addHandler(handler)
    _installed[logger.name] = handler


def end() -> None:
    """The cluster is ready: stop copying errors to stderr."""
    while _installed:
        name, handler = _installed.popitem()
        logging.getLogger(name).removeHandler(handler)
