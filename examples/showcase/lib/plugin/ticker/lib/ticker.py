"""A cluster client: a counter that lives in the agent (the leader) and pushes its count to
every subscribed app worker (the followers). One timer per cluster, however many workers.

The contract of a cluster client class: `subscribe(reg, listener)` and `publish(reg)`
(called on the leader only), and `follower_methods`: what followers may call remotely.
"""

import asyncio
import os
import time


class Ticker:
    follower_methods = ("current",)

    def __init__(self, interval):
        self.interval = float(interval)
        self.count = 0
        self.listeners = []
        self.task = None

    def state(self):
        return {"count": self.count, "at": time.time(), "leader_pid": os.getpid()}

    def subscribe(self, reg, listener):
        if reg.get("topic") != "tick":
            raise ValueError(f"Ticker has no topic {reg!r}")
        self.listeners.append(listener)
        listener(self.state())
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._tick())

    def publish(self, reg):
        """Followers bump the counter: `publish({"topic": "tick", "add": n})`."""
        self.count += int(reg.get("add", 1))
        self._push()

    async def current(self):
        return self.state()

    async def _tick(self):
        while True:
            await asyncio.sleep(self.interval)
            self.count += 1
            self._push()

    def _push(self):
        state = self.state()
        for listener in self.listeners:
            listener(state)

    def close(self):
        if self.task is not None:
            self.task.cancel()
