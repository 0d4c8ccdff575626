"""Where the master delivers a message a child addressed to other processes (docs/MESSENGER.md).

`receiver_pid` wins over `to`; `all` means the agent and every app worker in the pool (the
sender included, exactly once); `app` every pool worker; `agent` the agent; `random` one
serving app worker (a booting one only when none serves). Anything else is delivered
nowhere.

The master runs no app code and must survive whatever a child sends: `Message.from_frame`
checked every field's type, nothing here can raise, and a child can never send one of the
runtime's own actions (`egg-ready`, `agent-start`, ...) to another child, so those always
come from the master.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from runtime.contract.messages import RESERVED_ACTIONS, Message, Role
from runtime.master.children.handle import ChildHandle
from runtime.master.children.states import ChildState

log = logging.getLogger("eggscripts.master")


def route_targets(
    msg: Message,
    agent: ChildHandle | None,
    pool: Callable[[], list[ChildHandle]],
    children: dict[int, ChildHandle],
) -> list[ChildHandle]:
    """`pool` is called only when the target is not a single pid (the common fast path of
    `send_to` never lists the workers)."""
    if msg.action in RESERVED_ACTIONS:
        log.warning("dropped %r from %s: reserved for the master", msg.action, msg.sender)
        return []
    if msg.receiver_pid is not None:
        target = children.get(msg.receiver_pid)
        return [target] if target is not None else []
    to = msg.to
    if to == Role.AGENT:
        return [agent] if agent is not None else []
    if to == Role.APP:
        return pool()
    if to == Role.ALL:
        return ([agent] if agent is not None else []) + pool()
    if to == Role.RANDOM:
        live = pool()
        serving = [h for h in live if h.state is ChildState.SERVING] or live
        return [random.choice(serving)] if serving else []
    return []
