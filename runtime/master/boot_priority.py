"""A reload's new children boot at a lower CPU priority, and serve at the normal one.

During a rolling reload the new agent (a new interpreter) and each new app worker spend
hundreds of milliseconds of CPU booting while the old workers serve; on a machine with few
cores that CPU is taken from serving, and req/s dips for the length of the roll. So each
child forked or spawned while a reload runs is reniced by `BOOT_NICE` until it says
`agent-start`/`app-start` (or the reload ends), then given the master's own priority back.
On an idle machine the boot is as fast as before; under load it takes what serving leaves.

Giving a priority back needs CAP_SYS_NICE (a root master) or an RLIMIT_NICE that allows
it; without either, nothing is lowered: a child must never serve below its peers.
The renicing itself is the spawner's (`Spawner.renice`, runtime/master/spawner.py).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable

BOOT_NICE = 10
CAP_SYS_NICE = 23


def _may_raise_priority(normal: int) -> bool:
    """Can this process set a priority as high as `normal` on its children again?"""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NICE)
    if soft == resource.RLIM_INFINITY or 20 - normal <= soft:
        return True
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_SYS_NICE & 1)
    except OSError:
        pass
    return False


class BootPriority:
    def __init__(self, renice: Callable[[int, int], bool]) -> None:
        self.renice = renice
        self.normal = os.getpriority(os.PRIO_PROCESS, 0)
        self.enabled = self.normal < 19 and _may_raise_priority(self.normal)
        self.lowered: set[int] = set()

    def lower(self, pid: int) -> None:
        if self.enabled and self.renice(pid, min(self.normal + BOOT_NICE, 19)):
            self.lowered.add(pid)

    def restore(self, pid: int) -> None:
        if pid in self.lowered:
            self.lowered.discard(pid)
            self.renice(pid, self.normal)

    def restore_all(self) -> None:
        for pid in list(self.lowered):
            self.restore(pid)
