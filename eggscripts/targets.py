"""Which cluster a command acts on when the user did not say: never "all of them".

`stop`, `status`, `reload` and `scale` take `--title`; without it they use the title of
the app in BASE_DIR (default: the current directory): `[tool.eggscripts] title`, else
`egg-server-<name>`, exactly what `start` would have used there. Outside an app they
refuse with one line (exit 2) instead of guessing: egg-scripts' `stop` without a title
stopped every cluster of the user, other CI jobs' included.
"""

from __future__ import annotations

import os
import pwd

from eggscripts import procs
from eggscripts.app_settings import AppInfo
from eggscripts.errors import ConfigError

APP_MARKERS = ("pyproject.toml", "app", "config")


class NoTarget(ConfigError):
    """No --title and no app here: usage error, exit 2, one line."""


def is_app(base_dir: str) -> bool:
    return any(os.path.exists(os.path.join(base_dir, marker)) for marker in APP_MARKERS)


def title_for(title: str | None, app: AppInfo, command: str, all_hint: bool = False) -> str:
    """`title` (from --title or [tool.eggscripts]) or the default title of the app here."""
    if title:
        return title
    if is_app(app.base_dir):
        return app.default_title
    alternative = " or --all" if all_hint else ""
    raise NoTarget(
        f"no app in {app.base_dir} (no pyproject.toml, app/ or config/) to take a title "
        f"from: give --title=TITLE{alternative}, e.g. eggscripts {command} --title=TITLE"
    )


def not_running_line(title: str) -> str:
    """Nothing runs under `title`: say so, and what does run (a typo shows at once)."""
    running = procs.running_titles()
    listed = f"running: {', '.join(running)}" if running else "no cluster is running"
    return f"no running cluster found with title {title} ({listed})"


def user_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())
