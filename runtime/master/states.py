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
- KILLED: SIGKILLed by the master because it was stuck (no heartbeat, a restarted agent
  that never started); its exit is replaced like a crash. A SIGKILL at a stop deadline does
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
# An exit from one of these was not asked for: the child is replaced (policy permitting).
REPLACED_ON_EXIT = frozenset({S.BOOTING, S.SERVING, S.KILLED})


class Phase(enum.Enum):
    """The cluster's own lifecycle (egg-cluster's), beside each child's state."""

    STARTING_AGENT = "starting-agent"
    STARTING_APPS = "starting-apps"
    READY = "ready"
    CLOSING = "stopping"


class InvalidTransition(AssertionError):
    """A master decision tried a move the table forbids: a bug, never a child's doing."""


def check_transition(current: ChildState, new: ChildState) -> None:
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"child cannot go from {current} to {new}")
