"""Where a cluster's processes import from: the master from the installed packages only,
the app's processes from BASE_DIR first.

The CLI starts `python -m runtime.start_cluster` (and `runtime.check`) from `/`
(`runtime.contract.handoff.START_DIR`), never
from BASE_DIR: `python -m` resolves the module from the directory it starts in before any
of our code runs, so an app with a `runtime/` package of its own made every start fail,
and a root master would have run code its `--user` can change. The runtime then enters
BASE_DIR itself (its working directory, as before) and drops the start directory from
`sys.path`: the master never imports app code (docs/INTERNALS.md, ownership map), so
nothing it imports later (PyYAML, uvicorn) may be found in BASE_DIR either. The agent and
the app workers put BASE_DIR first again once they run as the app's account, as `python
-m` started in BASE_DIR would: an app's own top-level packages stay importable.
"""

from __future__ import annotations

import os
import sys


def enter_as_master(base_dir: str) -> None:
    """Work in BASE_DIR, import nothing from it (nor from the start directory).
    Raises OSError when BASE_DIR cannot be entered."""
    start = os.getcwd()
    os.chdir(base_dir)
    while sys.path and sys.path[0] in (start, base_dir, ""):
        del sys.path[0]


def enter_as_app(base_dir: str) -> None:
    """BASE_DIR first on `sys.path`, for the app's own modules (agent, workers, check)."""
    if sys.path[:1] != [base_dir]:
        sys.path.insert(0, base_dir)
