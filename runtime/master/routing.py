"""Where the master delivers a message a child addressed to other processes (SPEC §7).

`receiver_pid` wins over `to`; `all` means the agent and every app worker (the sender
included, exactly once); `app` every app worker; `agent` the agent; `random` one app worker
that is up. Anything else is delivered nowhere.

The master runs no app code and must survive whatever a child sends: every field is
checked here, nothing a child writes can raise, and a child can never send one of the
runtime's own actions (`egg-ready`, `agent-start`, ...) to another child, so those always
come from the master.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from runtime.ipc.framing import Action, Role
from runtime.master.handle import ChildHandle

log = logging.getLogger("eggscripts.master")
RESERVED_ACTIONS = frozenset(a.value for a in Action)


def route_targets(
    msg: dict[str, Any],
    agent: ChildHandle | None,
    apps: Callable[[], list[ChildHandle]],
    children: dict[int, ChildHandle],
) -> list[ChildHandle]:
    """`apps` is called only when the target is not a single pid (the common fast path of
    `send_to` never lists the workers)."""
    action = msg.get("action")
    if not isinstance(action, str) or action in RESERVED_ACTIONS:
        log.warning("dropped %r from %s: reserved for the master", action, msg.get("from"))
        return []
    pid = msg.get("receiver_pid")
    if pid is not None:
        if isinstance(pid, bool) or not isinstance(pid, int):
            log.warning("dropped %r: receiver_pid %r is not a pid", action, pid)
            return []
        target = children.get(pid)
        return [target] if target is not None else []
    to = msg.get("to")
    live_apps = [h for h in apps() if not h.disconnected and not h.stopping]
    if to == Role.AGENT.value:
        return [agent] if agent is not None else []
    if to == Role.APP.value:
        return live_apps
    if to == Role.ALL.value:
        return ([agent] if agent is not None else []) + live_apps
    if to == Role.RANDOM.value:
        started = [h for h in live_apps if h.started] or live_apps
        return [random.choice(started)] if started else []
    return []
