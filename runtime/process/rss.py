"""A process's resident memory in one read of /proc/<pid>/statm: what the master's
/metrics shows per child, and what an app worker's heartbeat carries so the master can
judge `--max-worker-memory` (runtime/master/lifecycle/recycle.py) without asking the kernel itself.
No psutil import: the worker pays one small read per heartbeat."""

from __future__ import annotations

import os

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid: int | str = "self") -> int | None:
    """Bytes resident for `pid` (default: this process); None when the process is gone or
    the system has no /proc (then the master measures it with psutil)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None
