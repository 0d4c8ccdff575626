"""`eggscripts stop`: stop running clusters of the current user."""

from __future__ import annotations

import os
from typing import Any

import click
from click.core import ParameterSource

from eggscripts.client import targets
from eggscripts.errors import PREFIX, StopFailed
from eggscripts.finding import procs
from eggscripts.finding.procs import ClusterProcess
from eggscripts.launching import shutdown
from eggscripts.options import app_settings
from eggscripts.options import registry as options


@click.command(
    "stop",
    params=[*options.click_params(options.STOP), options.base_dir_argument()],
    epilog="Examples: `eggscripts stop --title=egg-server-shop`; `eggscripts stop /srv/shop`; "
    "`eggscripts stop` (the app in the current directory); `eggscripts stop --all`.",
)
@click.pass_context
def command(ctx: click.Context, /, base_dir: str, **_: Any) -> None:
    """Stop running clusters.

    Finds the masters of the current user whose title is exactly --title, sends them
    SIGTERM and waits (at most --timeout) until they have stopped their workers and
    exited, then SIGTERMs, and after a short grace SIGKILLs, any agent or app worker of
    the same title still alive. Without --title: with an explicit BASE_DIR, the clusters
    started from that directory (symlinks resolved on both sides); else the cluster of
    the app in the current directory ([tool.eggscripts] title, else egg-server-<name>);
    outside an app directory the command refuses (exit 2) unless --all asks for every
    cluster of the current user. Other users' processes are never touched. Finding
    nothing is not an error (exit status 0): the line lists the titles that are running.
    """
    app = app_settings.load(base_dir)
    values = options.resolve(ctx, options.STOP, app)
    title: str | None = values["title"]
    everything = bool(values["all"])
    if everything and ctx.get_parameter_source("title") == ParameterSource.COMMANDLINE:
        raise click.UsageError("--title and --all exclude each other")
    only_dir = None
    if everything:
        title = None
        _say(f"--all: stopping every cluster of user {targets.user_name()}")
    elif targets.explicit_dir(ctx, title) is not None:
        only_dir = base_dir
    else:
        title = targets.title_for(title, app, "stop", all_hint=True)
    if only_dir is not None and os.path.realpath(only_dir) != only_dir:
        _say(f"{only_dir} resolves to {os.path.realpath(only_dir)}: comparing resolved paths")

    stop_clusters(title, only_dir, values["timeout"])


def stop_clusters(title: str | None, only_dir: str | None, timeout_ms: int) -> bool:
    """Stop the clusters titled `title` (every one when None), or started from `only_dir`,
    saying what happens; False when none was running (also used by `restart`)."""
    found = procs.find(title, base_dir=only_dir)
    if not found:
        _say(_nothing_found(title, only_dir))
        return False
    by_title = _group(found)
    for name, members in by_title.items():
        _say(f"stopping {name} ({_roles(members)})")

    masters = [cp.proc for cp in found if cp.info.role == "master"]
    result = shutdown.stop(
        masters,
        leftovers=lambda: [
            cp.proc for cp in procs.find(title, roles=("agent", "app"), base_dir=only_dir)
        ],
        timeout=timeout_ms / 1000,
    )
    killed = set(result.killed)
    for name, members in by_title.items():
        pids = ", ".join(str(cp.pid) for cp in members)
        _say(f"stopped {name} (pids {pids}) in {result.elapsed:.2f}s")
        late = [str(cp.pid) for cp in members if cp.pid in killed]
        if late:
            _say(f"{name}: killed pids {', '.join(late)} with SIGKILL (they did not exit in time)")
    if result.denied:
        denied = ", ".join(str(pid) for pid in result.denied)
        raise StopFailed(f"not permitted to signal pids {denied}")
    return True


def _group(found: list[ClusterProcess]) -> dict[str, list[ClusterProcess]]:
    order = {role: i for i, role in enumerate(procs.ROLES)}
    groups: dict[str, list[ClusterProcess]] = {name: [] for name in procs.titles(found)}
    for cp in sorted(found, key=lambda cp: (order[cp.info.role], cp.pid)):
        groups[cp.info.title].append(cp)
    return groups


def _roles(members: list[ClusterProcess]) -> str:
    parts = []
    for role in procs.ROLES:
        pids = [str(cp.pid) for cp in members if cp.info.role == role]
        if pids:
            label = f"{role} pid" if len(pids) == 1 else f"{role} pids"
            parts.append(f"{label} {', '.join(pids)}")
    if not any(cp.info.role == "master" for cp in members):
        parts.append("no master")
    return "; ".join(parts)


def _nothing_found(title: str | None, only_dir: str | None) -> str:
    if title is not None:
        return targets.not_running_line(title)
    if only_dir is not None:
        return targets.not_running_in_line(only_dir)
    return f"no running cluster found of user {targets.user_name()}"


def _say(text: str) -> None:
    click.echo(f"{PREFIX} {text}")
