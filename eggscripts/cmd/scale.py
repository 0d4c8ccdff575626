"""`eggscripts scale`: change the number of app workers of a running cluster."""

from __future__ import annotations

import re
import time
from typing import Any

import click

from eggscripts.client import control_client, targets
from eggscripts.errors import PREFIX, EggScriptsError
from eggscripts.options import app_settings
from eggscripts.options import registry as options
from runtime.contract import capacity
from runtime.contract.control import ControlAction, ScaleRequest

COUNT_RE = re.compile(r"^([+-]?)(\d{1,6})$")
POLL = 0.05


@click.command(
    "scale",
    short_help="Change the number of app workers.",
    params=[
        *options.click_params(options.SCALE),
        click.Argument(["count"], metavar="N|+K|-K"),
        options.base_dir_argument(),
    ],
    context_settings={"ignore_unknown_options": True},  # `-1` is a count, not an option
    epilog="Examples: `eggscripts scale 4`; `eggscripts scale --title=shop +2`; "
    "`eggscripts scale -1`.",
)
@click.pass_context
def command(ctx: click.Context, /, count: str, base_dir: str, **_: Any) -> None:
    """Set the number of app workers to N, or add K (+K) or remove K (-K).

    New workers are forked at once; surplus workers are drained like a graceful stop
    (they stop accepting, finish in-flight requests, run before_close, exit), newest
    first. The command waits (at most --timeout) until exactly the new count of workers
    is serving and prints their pids. The count also applies to later reloads and
    reforks. The cluster is --title, else the one cluster started from BASE_DIR when it
    is given, else the app in the current directory. Exit status: 0 done, 1 failed or
    not reached in time, 2 bad count or no title, 3 the cluster is not running.
    """
    app = app_settings.load(base_dir)
    values = options.resolve(ctx, options.SCALE, app)
    title = targets.one_title(ctx, values["title"], app, "scale")
    request = parse_count(count)
    started = time.monotonic()
    answer = control_client.call(title, ControlAction.SCALE, request)
    previous, wanted = answer["previous"], answer["workers"]
    pids = wait_for_count(title, wanted, values["timeout"] / 1000)
    elapsed = time.monotonic() - started
    click.echo(
        f"{PREFIX} scaled {title} from {previous} to {wanted} app workers "
        f"(pids {', '.join(map(str, pids))}) in {elapsed:.2f}s"
    )


def parse_count(text: str) -> ScaleRequest:
    match = COUNT_RE.match(text.strip())
    if match is None:
        raise click.BadParameter(f"{text!r}: give N, +K or -K", param_hint="'N|+K|-K'")
    sign, number = match.group(1), int(match.group(2))
    if sign:
        return {"delta": number if sign == "+" else -number}
    problem = capacity.workers_problem(number)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="'N'")
    return {"workers": number}


def wait_for_count(title: str, wanted: int, timeout: float) -> list[int]:
    """The pids once exactly `wanted` app workers serve and no other app process is left
    (booting or draining); EggScriptsError with what there is at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        cluster = control_client.call(title, ControlAction.STATUS)
        apps = [p for p in cluster.get("processes", []) if p.get("role") == "app"]
        serving = [p["pid"] for p in apps if p.get("state") == "serving"]
        if len(serving) == wanted and len(apps) == wanted:
            return sorted(serving)
        if time.monotonic() > deadline:
            raise EggScriptsError(
                f"{title} has {len(serving)} of {wanted} app workers serving "
                f"({len(apps)} app processes) after {timeout:g}s"
            )
        time.sleep(POLL)
