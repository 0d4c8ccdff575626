"""Where each child is in its life: one explicit state machine (supervisor's
`ProcessStates` + `change_state`), instead of flags combined differently by every reader.

    BOOTING --started--> SERVING --fault/retire--> LEAVING --+
       |                    |                                |
       +------stop----------+---------stop/scale-down--> STOPPING --exit--> EXITED
       |                    |                                |
       +--stuck (no start / no heartbeat)--> KILLED ---------+--exit--> EXITED

- BOOTING: spawned, has not announced `agent-start` / `app-start` yet.
- SERVING: started; in the pool (accepting connections, receiving messages).
- LEAVING: left the pool while a replacement takes its place (an uncaught fault made it
  disconnect, or a reload retires it once its successor serves); it drains and exits, and
  its exit is NOT replaced.
- STOPPING: told to stop for good (graceful stop of the cluster, scale down); its exit is
  expected and not replaced.
- KILLED: SIGKILLed by the master because it was stuck (no heartbeat, booting past the
  startup timeout); its exit is replaced like a crash. A SIGKILL at a stop deadline does
  not change the state: that exit was expected anyway.
- EXITED: reaped.

`reload` and `scale` are transitions of this table (a new BOOTING beside a SERVING that
will be LEAVING; a SERVING to STOPPING), not new flags.
"""

from __future__ import annotations

import enum


class ChildState(enum.Enum):
    BOOTING = "booting"
    SERVING = "serving"
    LEAVING = "leaving"
    STOPPING = "stopping"
    KILLED = "killed"
    EXITED = "exited"

    def __str__(self) -> str:
        return self.value


S = ChildState
TRANSITIONS: dict[ChildState, frozenset[ChildState]] = {
    S.BOOTING: frozenset({S.SERVING, S.LEAVING, S.STOPPING, S.KILLED, S.EXITED}),
    S.SERVING: frozenset({S.LEAVING, S.STOPPING, S.KILLED, S.EXITED}),
    S.LEAVING: frozenset({S.STOPPING, S.EXITED}),
    S.STOPPING: frozenset({S.EXITED}),
    S.KILLED: frozenset({S.EXITED}),
    S.EXITED: frozenset(),
}

# In the pool: counted as capacity, sent messages, watched by the health check.
IN_POOL = frozenset({S.BOOTING, S.SERVING})
# Its exit was asked for (a stop, a retirement): expected, never replaced.
ASKED_TO_LEAVE = frozenset({S.STOPPING, S.LEAVING})


class InvalidTransition(AssertionError):
    """A master decision tried a move the table forbids: a bug, never a child's doing."""


def check_transition(current: ChildState, new: ChildState) -> None:
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"child cannot go from {current} to {new}")


class Phase(enum.Enum):
    """The cluster's own lifecycle (egg-cluster's), beside each child's state.

            STARTING_AGENT -> STARTING_APPS -> READY <-> RELOADING
            READY or RELOADING -> DRAINING (SIGTERM with --shutdown-delay)
            READY -> UPGRADING -> READY (the new master failed) or STOPPING (it took over)
            every earlier phase -> STOPPING -> STOPPED

    UPGRADING (`reload --upgrade`, SIGUSR2; runtime/master/lifecycle/upgrade.py): a new master boots
    beside this one on the same listening socket; this one keeps serving and owning the
    cluster until the new one is ready, then hands over and drains.

        `str(phase)` is what `status`, `/readyz` and the control commands show: both starting
        phases show as `starting`.
    """

    STARTING_AGENT = "starting-agent"
    STARTING_APPS = "starting-apps"
    READY = "ready"
    RELOADING = "reloading"
    UPGRADING = "upgrading"
    DRAINING = "draining"
    STOPPING = "stopping"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return "starting" if self in STARTING else self.value

    @property
    def starting(self) -> bool:
        """Not ready yet: any child failing now fails the whole start."""
        return self in STARTING

    @property
    def running(self) -> bool:
        """Started and not stopping: deaths are replaced, the pool is maintained."""
        return self in RUNNING

    @property
    def closing(self) -> bool:
        return self in (Phase.STOPPING, Phase.STOPPED)


P = Phase
STARTING = frozenset({P.STARTING_AGENT, P.STARTING_APPS})
RUNNING = frozenset({P.READY, P.RELOADING, P.UPGRADING, P.DRAINING})
PHASE_TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    P.STARTING_AGENT: frozenset({P.STARTING_APPS, P.STOPPING}),
    P.STARTING_APPS: frozenset({P.READY, P.STOPPING}),
    P.READY: frozenset({P.RELOADING, P.UPGRADING, P.DRAINING, P.STOPPING}),
    P.UPGRADING: frozenset({P.READY, P.STOPPING}),
    P.RELOADING: frozenset({P.READY, P.DRAINING, P.STOPPING}),
    P.DRAINING: frozenset({P.STOPPING}),
    P.STOPPING: frozenset({P.STOPPED}),
    P.STOPPED: frozenset(),
}


def check_phase_transition(current: Phase, new: Phase) -> None:
    if new not in PHASE_TRANSITIONS[current]:
        raise InvalidTransition(f"cluster cannot go from {current.name} to {new.name}")
