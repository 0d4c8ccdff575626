"""Per-process logging to the files of SPEC §5.

All processes of a cluster append to the same files (O_APPEND keeps lines whole), and
`WatchedFileHandler` reopens a file that logrotate moved away, so nothing is ever truncated
or written into a rotated file. Each line carries time, level, pid and role.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys

ROLE_LABELS = {"master": "master", "agent": "agent_worker", "app": "app_worker"}
FORMAT = "%(asctime)s %(levelname)s %(process)d [{label}] %(message)s"


def log_dir(base_dir: str, app_name: str) -> str:
    """Under the real BASE_DIR, resolved when the process starts: switching a release
    symlink (`current` -> `releases/43`) must not move a running process's logs into a
    directory that may not exist; processes started by the next reload log there."""
    return os.path.join(os.path.realpath(base_dir), "logs", app_name)


def role_file(role: str, app_name: str) -> str:
    return {"master": "master.log", "agent": "egg-agent.log"}.get(role, f"{app_name}-web.log")


def setup_logging(
    role: str, base_dir: str, app_name: str, stdout: bool = False, directory: str | None = None
) -> logging.Logger:
    """Route the root logger to this role's file, common-error.log and optionally stdout.

    Called once per process, and again in a forked child, which replaces the master's
    handlers (closing its copies of the master's file descriptors).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    fmt = logging.Formatter(FORMAT.format(label=ROLE_LABELS.get(role, role)))
    directory = directory or log_dir(base_dir, app_name)
    try:
        os.makedirs(directory, exist_ok=True)
        main_path = os.path.join(directory, role_file(role, app_name))
        main = logging.handlers.WatchedFileHandler(main_path)
        errors = logging.handlers.WatchedFileHandler(os.path.join(directory, "common-error.log"))
    except OSError as exc:
        print(f"[eggscripts] cannot write logs to {directory}: {exc.strerror}", file=sys.stderr)
    else:
        main.setFormatter(fmt)
        errors.setFormatter(fmt)
        errors.setLevel(logging.ERROR)
        root.addHandler(main)
        root.addHandler(errors)
    if stdout:
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(fmt)
        root.addHandler(console)
    root.setLevel(logging.INFO)
    return logging.getLogger(f"eggscripts.{role}")
