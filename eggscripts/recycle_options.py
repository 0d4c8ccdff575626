"""Options of `start` that recycle app workers (docs/DEPLOY.md, "Recycling workers"):
gunicorn's `--max-requests` and `--max-requests-jitter`, and pm2's `max_memory_restart` as
`--max-worker-memory`.

Part of the option registry (`eggscripts/options.py` lists them in `START`). Each option's
name is also its key in the runtime's options JSON (docs/INTERNALS.md §1), sent only when
it is on (`app_options.runtime_options`); 0, the default, is off on both sides.
"""

from __future__ import annotations

import click

from eggscripts.option_spec import OptionSpec

MAX_REQUESTS = OptionSpec(
    "max_requests",
    "Replace an app worker once it has served this many requests (gunicorn's "
    "--max-requests): its replacement accepts before it leaves, one worker at a time. "
    "0 turns this off.",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
)
MAX_REQUESTS_JITTER = OptionSpec(
    "max_requests_jitter",
    "Add randint(0, J) to each worker's --max-requests, so workers started together are "
    "not all replaced together (gunicorn's --max-requests-jitter).",
    type=click.IntRange(min=0),
    default=0,
    metavar="J",
)
MAX_WORKER_MEMORY = OptionSpec(
    "max_worker_memory",
    "Replace an app worker whose resident memory exceeds this many MiB (pm2's "
    "max_memory_restart), the same way as --max-requests. 0 turns this off.",
    type=click.IntRange(min=0),
    default=0,
    metavar="MIB",
)

RECYCLE_SPECS: tuple[OptionSpec, ...] = (MAX_REQUESTS, MAX_REQUESTS_JITTER, MAX_WORKER_MEMORY)
