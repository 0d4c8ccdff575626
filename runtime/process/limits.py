"""Process limits the master sets for the whole cluster before it forks anything.

The soft RLIMIT_NOFILE is 1024 on most distributions: with two workers about 2000 idle
connections (plus logs, channels and the listener) would exhaust it, and a worker out of
descriptors stops accepting without a word. The hard limit is what the administrator
allows; raising the soft limit up to it needs no privilege, and children inherit it.
"""

from __future__ import annotations

import contextlib
import resource

# Some systems report RLIM_INFINITY as the hard limit, which setrlimit refuses for
# NOFILE (Linux caps it at fs.nr_open); this is the most we ask for then.
INFINITY_CAP = 1 << 20


def raise_open_files_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit; returns the (soft, hard) now in effect."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = INFINITY_CAP if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)
