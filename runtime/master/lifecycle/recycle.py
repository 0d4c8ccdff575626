"""Worker recycling (`--max-requests`, `--max-requests-jitter`, `--max-worker-memory`):
a worker that served its share of requests, or grew past the memory limit, is replaced
the way a reload replaces one, without a capacity dip.

gunicorn's `max_requests` makes the worker stop itself first and the arbiter fork its
successor afterwards: for the time the successor boots, the pool serves one short. pm2's
`max_memory_restart` restarts the process in place. Here recycling is a transition the
pool decides on its reconciling pass (`Pool.maintain`, runtime/master/lifecycle/pool.py):

1. a SERVING worker is due: its heartbeat (runtime/worker/stats.py) reports at least its
   limit of requests (`max_requests + randint(0, max_requests_jitter)`, drawn once per
   worker, so workers started together do not all leave together), or an RSS above
   `max_worker_memory` MiB (psutil in the master when the heartbeat carries none);
2. one extra worker is forked into the dying one's slot (the pool counts it: `surging`);
3. once it says `app-start`, the old one leaves (LEAVING: stops accepting, drains, exits;
   not replaced) and its slot's restart counter records the cause for `status`.

One worker at a time, only while the cluster is READY with every worker serving: a reload
replaces every worker anyway, so one in progress pauses recycling, and a reload starting
while a replacement boots cancels it. A replacement that cannot be forked, or dies before
it starts, leaves the old worker serving; the next attempt backs off (logged each time).
"""

from __future__ import annotations

import random
import signal
from collections.abc import Callable

from runtime.contract.payloads import WorkerStats
from runtime.master.children.children import Children
from runtime.master.children.handle import ChildHandle
from runtime.master.children.states import ChildState, Phase
from runtime.master.lifecycle.cluster_state import ClusterState
from runtime.master.lifecycle.graceful_stop import stop
from runtime.master.lifecycle.ops import MasterOps
from runtime.master.lifecycle.timers import Timers

S = ChildState
MIB = 1024 * 1024
# After a replacement could not be forked or died booting: wait this long, doubling up to
# RETRY_MAX, before the next attempt.
RETRY_BASE = 1.0
RETRY_MAX = 30.0
# The causes `status` shows in `last_restart_cause` (and /metrics in its `cause` label).
BY_REQUESTS = "recycled: max requests"
BY_MEMORY = "recycled: max memory"


class Recycler:
    def __init__(
        self,
        state: ClusterState,
        ops: MasterOps,
        children: Children,
        timers: Timers,
        randint: Callable[[int, int], int] = random.randint,
    ) -> None:
        self.state = state
        self.ops = ops
        self.children = children
        self.timers = timers
        self.randint = randint
        self.limits: dict[int, int] = {}  # pid -> its request limit, drawn once
        # pid -> (the heartbeat psutil was asked about, the RSS it said)
        self.rss_seen: dict[int, tuple[WorkerStats, int | None]] = {}
        self.old: ChildHandle | None = None  # the worker being replaced
        self.new: ChildHandle | None = None  # its replacement, until it serves
        self.cause = ""
        self.failures = 0
        self.not_before = 0.0

    @property
    def enabled(self) -> bool:
        o = self.state.options
        return bool(o.max_requests or o.max_worker_memory)

    def surging(self) -> bool:
        """True while the pool holds one extra worker for a replacement (a KILLED one
        still counts: its exit frees the slot). Once the old one left by itself (a crash),
        the replacement simply fills its slot: no extra worker then."""
        new, old = self.new, self.old
        return (
            new is not None
            and new.state in (S.BOOTING, S.SERVING, S.KILLED)
            and old is not None
            and old.state is S.SERVING
        )

    # -- the reconciling step ------------------------------------------------------------
    def maintain(self, now: float) -> None:
        if self.new is not None:
            self.advance()
            return
        if not self.enabled or now < self.not_before or not self.can_start():
            return
        due = self.next_due()
        if due is not None:
            self.begin(*due)

    def can_start(self) -> bool:
        """Never below N serving: only when every pool worker serves and none is missing."""
        s = self.state
        if s.reload is not None or s.phase is not Phase.READY:
            return False
        pool = self.children.pool()
        return all(h.state is S.SERVING for h in pool) and len(pool) >= s.target_workers

    def advance(self) -> None:
        old, new = self.old, self.new
        assert new is not None
        if self.state.phase is not Phase.READY:
            self.cancel(f"the cluster is {self.state.phase}")
        elif old is None or old.state is not S.SERVING:
            # The old one left meanwhile (crash, scale down): the new one simply takes
            # its slot, whether it serves yet or not.
            self.new = self.old = None
        elif new.state is S.SERVING:
            self.new = self.old = None
            self.failures = 0
            self.state.log.info("%s took over from %s (%s)", new.label, old.label, self.cause)
            self.children.note_restart(old, self.cause)
            old.change_state(S.LEAVING)  # stop accepting, drain, exit; not replaced
            old.signal(signal.SIGTERM)

    def begin(self, old: ChildHandle, cause: str, why: str) -> None:
        self.state.log.info("recycling %s: %s", old.label, why)
        newest = self.children.newest
        if not self.ops.fork_app(old.id) or self.children.newest is newest:
            self.failed(old, "could not fork its replacement")
            return
        self.old, self.new = old, self.children.newest
        self.cause = cause

    def cancel(self, why: str) -> None:
        new, self.new, self.old = self.new, None, None
        if new is not None and new.state in (S.BOOTING, S.SERVING):
            self.state.log.info("recycling cancelled: %s", why)
            stop(new)

    def boot_failed(self, handle: ChildHandle, how: str) -> bool:
        """`handle` exited before it started: True when it was a replacement (the old
        worker keeps serving, the next attempt backs off)."""
        if handle is not self.new:
            return False
        old, self.new, self.old = self.old, None, None
        self.failed(old, f"its replacement {handle.what} died before it started ({how})")
        return True

    def failed(self, old: ChildHandle | None, why: str) -> None:
        self.failures += 1
        delay = min(RETRY_MAX, RETRY_BASE * 2 ** (self.failures - 1))
        self.not_before = self.timers.clock() + delay
        self.timers.call_later(delay, lambda: None)  # wake the loop for the next try
        what = old.what if old is not None else "a worker"
        self.state.log.error(
            "cannot recycle %s: %s; it keeps serving, next try in %.0fs", what, why, delay
        )

    # -- who is due ----------------------------------------------------------------------
    def next_due(self) -> tuple[ChildHandle, str, str] | None:
        """The oldest serving worker that is due, with its cause and why (one line)."""
        alive = {h.pid for h in self.children.apps()}
        for pid in set(self.limits) - alive:
            del self.limits[pid]
        for pid in set(self.rss_seen) - alive:
            del self.rss_seen[pid]
        for handle in sorted(self.children.serving(), key=lambda h: h.spawned_at):
            due = self.due(handle)
            if due is not None:
                return handle, *due
        return None

    def due(self, handle: ChildHandle) -> tuple[str, str] | None:
        """(cause, why in one line) when `handle` should be recycled now, else None."""
        o = self.state.options
        stats = handle.stats or {}
        if o.max_requests:
            limit = self.limit_of(handle)
            served = stats.get("requests")
            if isinstance(served, int) and served >= limit:
                return BY_REQUESTS, f"requests: served {served} of its limit {limit}"
        if o.max_worker_memory:
            rss = self.rss_of(handle)
            if rss is not None and rss > o.max_worker_memory * MIB:
                why = f"memory: {rss / MIB:.0f} MiB > --max-worker-memory {o.max_worker_memory}"
                return BY_MEMORY, why
        return None

    def limit_of(self, handle: ChildHandle) -> int:
        o = self.state.options
        limit = self.limits.get(handle.pid)
        if limit is None:
            limit = o.max_requests + self.randint(0, o.max_requests_jitter)
            self.limits[handle.pid] = limit
        return limit

    def rss_of(self, handle: ChildHandle) -> int | None:
        """Bytes, from the heartbeat; else measured by psutil once per heartbeat."""
        stats = handle.stats
        rss = stats.get("rss") if stats else None
        if isinstance(rss, int):
            return rss
        if not stats:
            return None
        seen = self.rss_seen.get(handle.pid)
        if seen is not None and seen[0] is stats:
            return seen[1]
        import psutil  # the master pays for it only when a heartbeat lacks its RSS

        try:
            measured: int | None = int(psutil.Process(handle.pid).memory_info().rss)
        except psutil.Error:
            measured = None
        self.rss_seen[handle.pid] = (stats, measured)
        return measured
