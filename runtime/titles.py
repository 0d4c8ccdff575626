"""Process titles: the names `eggscripts stop`/`status` and users' `ps` find us by.

The title is the only handle the CLI has on a running cluster, so its format is a contract:
`eggscripts-<role> --title=<title> [--port=<port>] --base-dir=<abs path>`.
"""

from __future__ import annotations

import re

TITLE_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_TITLE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_title(app_name: str) -> str:
    """`egg-server-<name>`, made title-safe: a directory called `my app` still gets a
    usable default instead of an error the user did not cause. The CLI computes the same
    (eggscripts/app_settings.py: it never imports the runtime)."""
    safe = _TITLE_UNSAFE.sub("-", app_name).strip("-") or "app"
    return f"egg-server-{safe}"


def master_title(title: str, port: int, base_dir: str) -> str:
    return f"eggscripts-master --title={title} --port={port} --base-dir={base_dir}"


def agent_title(title: str, base_dir: str) -> str:
    return f"eggscripts-agent --title={title} --base-dir={base_dir}"


def app_title(title: str, base_dir: str) -> str:
    return f"eggscripts-app --title={title} --base-dir={base_dir}"


def set_title(text: str) -> None:
    """Set the process title; setproctitle is imported here so only callers pay for it."""
    import setproctitle

    setproctitle.setproctitle(text)
