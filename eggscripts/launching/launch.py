"""The one interface to the runtime: `python -m runtime.start_cluster '<options JSON>'`.

docs/INTERNALS.md §1 lists the keys. Of the runtime the CLI imports only its contract
(`runtime/contract/`, standard library only, which names the keys); it builds this command
line and execs it, so the cluster may even run under another interpreter (`--python`).
The command is an argv list handed to exec: no option value ever reaches a shell.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

from eggscripts.errors import EggScriptsError
from eggscripts.launching import early_start
from eggscripts.options import app_options
from runtime.contract import handoff, option_defs

RUNTIME_MODULE = early_start.RUNTIME_MODULE
# Keys filled below rather than copied: resolved paths, and the log files of a daemon only.
_BY_HAND = frozenset(("require", "stdout_log", "stderr_log"))
# In daemon mode `start` owns --timeout (its message, its cleanup); the master's own startup
# timeout is only a backstop for a launcher that died, so it fires a little later.
BACKSTOP_MS = 1000


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything needed to launch one cluster, already validated."""

    python: str
    base_dir: str
    title: str
    options: dict[str, Any]  # docs/INTERNALS.md §1 keys except ready_fd and lock_fd
    env: dict[str, str]
    # The title lock this start holds (eggscripts/launching/title_lock.py), inherited by the master.
    lock_fd: int | None = None
    module: str = RUNTIME_MODULE  # or `runtime.check`, the second door (INTERNALS.md §1b)

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
    `control` is the control socket's path (runtime/contract/paths.py)."""
    https = None
    if values["https_key"]:
        https = {"key": values["https_key"], "cert": values["https_cert"]}
    options = {  # every JSON key is a contract definition's `key` (option_defs.py)
        **{d.key: values[d.name] for d in option_defs.CLUSTER if d.key and d.key not in _BY_HAND},
        "base_dir": base_dir,
        "https": https,
        "require": require,
        "control_path": control,
        **app_options.runtime_options(values),
    }
    if values["uds"]:  # relative to BASE_DIR, as the app config's cluster.listen.path
        options["uds"] = os.path.join(base_dir, os.path.expanduser(values["uds"]))
    if values["health_port"] is not None:
        options["health_host"], options["health_port"] = values["health_port"]
    if values["daemon"]:  # the master reopens them on SIGUSR1 (logrotate)
        for d in (option_defs.STDOUT, option_defs.STDERR):
            options[d.key] = values[d.name]
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
    argv = plan.argv()
    if plan.module == RUNTIME_MODULE:  # a master already importing takes it, if started early
        early_start.hand_foreground(argv, plan.env, plan.lock_fd)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.chdir(handoff.START_DIR)  # never BASE_DIR: runtime/process/import_path.py
        os.execve(argv[0], argv, plan.env)
    except OSError as exc:
        raise EggScriptsError(f"cannot run {argv[0]}: {exc.strerror}") from None
