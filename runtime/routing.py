"""Where the master delivers a message a child addressed to other processes (SPEC §7).

`receiver_pid` wins over `to`; `all` means the agent and every app worker (the sender
included, exactly once); `random` picks one app worker that is up.
"""

from __future__ import annotations

import random
from typing import Any

from runtime.handles import ChildHandle
from runtime.ipc import Role


def route_targets(
    msg: dict[str, Any],
    agent: ChildHandle | None,
    apps: list[ChildHandle],
    children: dict[int, ChildHandle],
) -> list[ChildHandle]:
    pid = msg.get("receiver_pid")
    if pid:
        target = children.get(int(pid))
        return [target] if target is not None else []
    to = msg.get("to")
    live_apps = [h for h in apps if not h.disconnected and not h.stopping]
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
