"""Process titles: the names `eggscripts stop`/`status` and users' `ps` find a cluster by.

The title is the only handle the CLI has on a running cluster, so its format is part of
the contract: `eggscripts-<role> --title=<title> [--port=<port>] --base-dir=<abs path>`.
The runtime writes it (`runtime/process/proctitle.py` sets it), the CLI parses it
(`eggscripts/finding/procs.py`).
"""

from __future__ import annotations

import re

TITLE_RE = re.compile(r"^[A-Za-z0-9._-]+$")
PREFIX = "eggscripts-"
ROLES = ("master", "agent", "app")
_TITLE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_title(app_name: str) -> str:
    """`egg-server-<name>` (egg-scripts' default), made title-safe: a directory called
    `my app` still gets a usable default instead of an error the user did not cause. The
    CLI derives a cluster's default title from it, the runtime the per-title log
    directories."""
    safe = _TITLE_UNSAFE.sub("-", app_name).strip("-") or "app"
    return f"egg-server-{safe}"


def master_title(title: str, port: int, base_dir: str) -> str:
    return f"{PREFIX}master --title={title} --port={port} --base-dir={base_dir}"


def agent_title(title: str, base_dir: str) -> str:
    return f"{PREFIX}agent --title={title} --base-dir={base_dir}"


def app_title(title: str, base_dir: str) -> str:
    return f"{PREFIX}app --title={title} --base-dir={base_dir}"


def check_title(title: str) -> str | None:
    """The one-line complaint about an invalid title, or None."""
    if TITLE_RE.match(title):
        return None
    return f"invalid title {title!r}: use only letters, digits, '.', '_' and '-'"
