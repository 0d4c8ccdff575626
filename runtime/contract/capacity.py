"""How many app workers a cluster may have: one bound for `start --workers` and `scale`.

egg accepts any number, and `--workers=5000` forks until the machine swaps or hits its
pids limit. Workers are event-loop servers: past a few per CPU they add memory and context
switches, not throughput (measured here: 2 workers on 2 CPUs serve ~64k req/s; more
served less). The bound is deliberately generous, so it only catches typos and runaway
automation:

- 16 per CPU this process may run on (its cpuset, a container's quota included), which
  still leaves room for apps that block in synchronous code;
- one per 40 MiB of the memory limit (the cgroup's `memory.max` when set, else physical
  memory): an idle worker is ~20-30 MiB RSS, so more could not even boot.
"""

from __future__ import annotations

import os

PER_CPU = 16
MEMORY_PER_WORKER = 40 * 1024 * 1024


def cpu_count() -> int:
    """CPUs this process may run on (a container's cpuset), not the host's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def memory_limit() -> int | None:
    """Bytes this process may use: the cgroup v2 limit if any, else physical memory."""
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            value = fh.read().strip()
        if value.isdigit():
            return int(value)
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # pragma: no cover - no sysconf
        return None


def max_workers() -> tuple[int, str]:
    """(the bound, a sentence saying where it comes from)."""
    cpus = cpu_count()
    by_cpu = PER_CPU * cpus
    memory = memory_limit()
    by_memory = max(1, memory // MEMORY_PER_WORKER) if memory else by_cpu
    why = f"{PER_CPU} per CPU x {cpus} CPU(s) = {by_cpu}"
    if memory:
        why += f"; {memory / 2**30:.1f} GiB of memory at 40 MiB per worker = {by_memory}"
    return min(by_cpu, by_memory), why


def workers_problem(workers: int) -> str | None:
    """The one-line reason `workers` app workers are refused, or None; `start` and the
    master's `scale` both ask here, so both paths say the same."""
    if workers < 1:
        return "a cluster needs at least 1 app worker"
    limit, why = max_workers()
    if workers > limit:
        return f"{workers} is more workers than this machine can run well (at most {limit}: {why})"
    return None
