"""The master's own log: opened once the agent is on its way (the app name, from
pyproject.toml, and the log files are not needed to start it, so they stay off the
start-up's critical path), and the records a failed start keeps off the terminal."""

from __future__ import annotations

import dataclasses
import logging

from runtime.contract.messages import Role
from runtime.master.lifecycle.cluster_state import ClusterState


def open_master_log(state: ClusterState) -> logging.Logger:
    """Name the app if the options did not, and set the master's logging up; files wait
    for the app's `logger.dir`, which the agent tells at `agent-start`."""
    from runtime.process.app_name import app_name
    from runtime.process.log_setup import setup_logging

    if state.options.name is None:
        state.options = dataclasses.replace(state.options, name=app_name(state.options.base_dir))
    o = state.options
    return setup_logging(
        Role.MASTER,
        o.base_dir,
        state.name,
        True,
        o.log_dir,
        env=o.env,
        log_format=o.log_format,
        title=o.title,
        level=o.log_level,
    )


def no_console() -> dict[str, bool]:
    """The log lines of a failed start stay off the terminal (`NO_CONSOLE` of
    runtime/process/log_setup.py);
    imported here, not at the top: the logging module loads after the agent's spawn."""
    from runtime.process.log_setup import NO_CONSOLE

    return NO_CONSOLE
