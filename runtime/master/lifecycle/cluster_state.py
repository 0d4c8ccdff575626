"""What the master knows about the cluster as a whole, in one object it owns and lends to
every collaborator: the phase, where it listens, how many app workers are wanted, which
release serves, the reload or upgrade in progress, the options and the log.

Collaborators read it freely; they change the phase only through `move_to`, which asserts
the move is in `states.PHASE_TRANSITIONS` (a bug otherwise, as for a child's state).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from typing import TYPE_CHECKING

from runtime.contract.exitcodes import ExitCode
from runtime.master.children.states import Phase, check_phase_transition
from runtime.master.production.listener import listener_url
from runtime.process.cluster_options import ClusterOptions

if TYPE_CHECKING:
    from runtime.master.lifecycle.rolling_reload import RollingReload
    from runtime.master.lifecycle.upgrade import Upgrade


@dataclasses.dataclass
class ClusterState:
    options: ClusterOptions
    log: logging.Logger
    started_at: float
    phase: Phase = Phase.STARTING_AGENT
    listener: socket.socket | None = None
    host: str = ""
    port: int | None = None
    https: bool = False  # --https, or the app config's cluster.https (agent-start)
    target_workers: int = 1
    # The real BASE_DIR the running code came from; a reload moves it to the new one.
    release_dir: str = ""
    reload: RollingReload | None = None
    upgrade: Upgrade | None = None  # the new master this one is handing the cluster to
    close_code: int = ExitCode.OK  # the exit status once every child is gone
    # The start failed: its one line is already on stderr, so the terminal is spared the
    # master's log lines about it (its log file keeps them).
    start_failed: bool = False
    version: str = ""  # the eggscripts this master runs (status.distribution_version)

    @classmethod
    def of(cls, options: ClusterOptions, log: logging.Logger, now: float) -> ClusterState:
        return cls(
            options=options,
            log=log,
            started_at=now,
            host=options.bind_host,
            port=options.port,
            https=bool(options.https),
            target_workers=options.workers,
            release_dir=os.path.realpath(options.base_dir),
        )

    @property
    def name(self) -> str:
        """The app name (pyproject.toml, or the directory's): forked workers log under it."""
        return self.options.name or ""

    @property
    def url(self) -> str:
        return listener_url(self.listener, self.host, self.port, self.https)

    def move_to(self, phase: Phase) -> None:
        check_phase_transition(self.phase, phase)
        self.phase = phase
