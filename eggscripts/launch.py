"""The one interface to the runtime: `python -m runtime.start_cluster '<options JSON>'`.

INTERNALS.md §1 lists the keys. The CLI never imports `runtime`; it only builds this
command line, so the cluster may even run under another interpreter (`--python`).
The command is an argv list handed to exec: no option value ever reaches a shell.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

from eggscripts import app_options
from eggscripts.errors import EggScriptsError
from eggscripts.recycle_options import RECYCLE_SPECS

RUNTIME_MODULE = "runtime.start_cluster"
# In daemon mode `start` owns --timeout (its message, its cleanup); the master's own startup
# timeout is only a backstop for a launcher that died, so it fires a little later.
BACKSTOP_MS = 1000


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything needed to launch one cluster, already validated."""

    python: str
    base_dir: str
    title: str
    options: dict[str, Any]  # INTERNALS §1 keys except ready_fd and lock_fd
    env: dict[str, str]
    # The title lock this start holds (eggscripts/title_lock.py), inherited by the master.
    lock_fd: int | None = None
    module: str = RUNTIME_MODULE  # or `runtime.check`, the second door (INTERNALS §1b)

    def argv(self, ready_fd: int | None = None) -> list[str]:
        options = {**self.options, "ready_fd": ready_fd}
        if ready_fd is not None:
            options["startup_timeout"] += BACKSTOP_MS
        if self.lock_fd is not None:
            options["lock_fd"] = self.lock_fd
        return [self.python, "-m", self.module, json.dumps(options)]


def make_plan(
    values: Mapping[str, Any], base_dir: str, require: list[str], control: str | None = None
) -> Plan:
    """Map resolved option values (options.START names) to the runtime's JSON keys;
    `control` is the control socket's path (eggscripts/control_path.py)."""
    https = None
    if values["https_key"]:
        https = {"key": values["https_key"], "cert": values["https_cert"]}
    options = {
        "base_dir": base_dir,
        "title": values["title"],
        "port": values["port"],
        "hostname": values["hostname"],
        "workers": values["workers"],
        "env": values["env"],
        "framework": values["framework"],
        "https": https,
        "require": require,
        "startup_timeout": values["timeout"],
        "worker_timeout": values["worker_timeout"],
        "user": values["user"],
        "group": values["group"],
        "shutdown_delay": values["shutdown_delay"],
        "grace_period": values["grace_period"],
        "log_format": values["log_format"],
        "control_path": control,
        **app_options.runtime_options(values),
        **app_options.runtime_options(values, RECYCLE_SPECS),
    }
    if values["health_port"] is not None:
        options["health_host"], options["health_port"] = values["health_port"]
    if values["daemon"]:  # the master reopens them on SIGUSR1 (logrotate)
        options["stdout_log"], options["stderr_log"] = values["stdout"], values["stderr"]
    env = {**os.environ, "EGG_SERVER_ENV": values["env"]}
    return Plan(
        python=values["python"] or sys.executable,
        base_dir=base_dir,
        title=values["title"],
        options=options,
        env=env,
    )


def exec_foreground(plan: Plan) -> NoReturn:
    """Replace this process with the master: same pid, same terminal, so Ctrl-C and
    SIGTERM reach the master directly and our exit status is the master's."""
    sys.stdout.flush()
    sys.stderr.flush()
    argv = plan.argv()
    try:
        os.chdir(plan.base_dir)
        os.execve(argv[0], argv, plan.env)
    except OSError as exc:
        raise EggScriptsError(f"cannot run {argv[0]}: {exc.strerror}") from None
