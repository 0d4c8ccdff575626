"""The kinds of child the master keeps, as data: what differs between the agent and an app
worker is a row of this table, not an `if agent` in every module.

A new kind of child is one more row plus its spawn method on the `Spawner`
(runtime/master/children/spawner.py) and its worker entry point (docs/INTERNALS.md, "The master").
"""

from __future__ import annotations

import dataclasses
import enum

from runtime.contract.exitcodes import ExitCode
from runtime.contract.messages import Action, Role


class Refork(enum.Enum):
    """What the master does when one dies unasked, once the cluster is running."""

    RESTART = "restarted after agent_restart_delay, backoff when it dies young"
    REPLACE = "replaced at once, backoff after failed boots"


@dataclasses.dataclass(frozen=True)
class ChildKind:
    role: Role
    label: str  # egg's greppable `<label>#<id>:<pid>`
    noun: str  # how one line names it: "agent", "app worker #2"
    refork: Refork
    start_action: Action  # what it says once it serves
    exit_action: Action  # what the others are told when it dies unasked
    boot_failure_exit: ExitCode  # the start's exit status when it dies before starting
    stop_stage: int  # the graceful stop's order: lower stages stop (and exit) first
    stop_timeout: str  # the option (ms) after which a child told to stop is SIGKILLed
    pooled: bool  # counted as capacity, sent `egg-pids`; serves HTTP (request numbers)

    def describe(self, worker_id: int) -> str:
        return self.noun if not self.pooled else f"{self.noun} #{worker_id}"


AGENT = ChildKind(
    role=Role.AGENT,
    label="agent_worker",
    noun="agent",
    refork=Refork.RESTART,
    start_action=Action.AGENT_START,
    exit_action=Action.AGENT_EXIT,
    boot_failure_exit=ExitCode.AGENT_START_ERROR,
    stop_stage=2,
    stop_timeout="kill_agent_timeout",
    pooled=False,
)
APP = ChildKind(
    role=Role.APP,
    label="app_worker",
    noun="app worker",
    refork=Refork.REPLACE,
    start_action=Action.APP_START,
    exit_action=Action.APP_EXIT,
    boot_failure_exit=ExitCode.WORKER_BOOT_ERROR,
    stop_stage=1,
    stop_timeout="kill_app_timeout",
    pooled=True,
)
KINDS: dict[str, ChildKind] = {kind.role: kind for kind in (AGENT, APP)}


def kind_of(role: str) -> ChildKind:
    return KINDS[role]
