"""Application targets: what an app worker (and the agent) create and boot.

An egg-style app directory when no `--app` is given; else an ASGI or WSGI
callable named `module:attr`, adapted to the same boot/serve/close interface.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def app_factory(options: Any) -> Callable[[Any], Any]:
    """`create(boot_info)` for the app worker's `boot_target`."""
    if options.app is None:
        from runtime.loader import create_app

        return create_app
    from runtime.apptarget.target import AppTarget

    return lambda info: AppTarget(options)


def agent_factory(options: Any) -> Callable[[Any], Any]:
    """`create(boot_info)` for the agent's `boot_target`."""
    from runtime.loader import create_agent

    if options.app is None:
        return create_agent
    from runtime.apptarget.target_agent import create_agent_for

    return lambda info: create_agent_for(info, options)
