"""App side of the ticker plugin: a follower of the agent's Ticker in every worker, and
the messenger round trip behind the showcase's `/api/cluster/broadcast`."""

import asyncio
import os
import uuid

from runtime.cluster_client import import_file

Ticker = import_file(os.path.join(os.path.dirname(__file__), "lib", "ticker.py")).Ticker


class Boot:
    def __init__(self, app):
        self.app = app
        self.pids = []
        self.pings = {}  # ping id -> (answers, future done when everyone answered)
        app.latest_tick = None
        app.ping_cluster = self.ping_cluster
        app.messenger.on("egg-pids", self.on_pids)
        app.messenger.on("showcase-ping", self.on_ping)
        app.messenger.on("showcase-pong", self.on_pong)

    def did_load(self):
        self.app.ticker = self.app.cluster(Ticker).create(self.app.config["ticker"]["interval"])
        self.app.ticker.subscribe({"topic": "tick"}, self.on_tick)

    def on_tick(self, state):
        self.app.latest_tick = state

    def on_pids(self, pids):
        self.pids = pids

    def on_ping(self, data):
        answer = {"id": data["id"], "pid": os.getpid(), "role": "app"}
        self.app.messenger.send_to(data["from"], "showcase-pong", answer)

    def on_pong(self, data):
        entry = self.pings.get(data["id"])
        if entry is not None:
            answers, done = entry
            answers.append({"pid": data["pid"], "role": data["role"]})
            if len(answers) >= len(self.pids) + 1 and not done.done():
                done.set_result(None)

    async def ping_cluster(self, timeout=1.0):
        """Broadcast a ping; every process answers this worker with `send_to`."""
        ping_id = uuid.uuid4().hex
        answers, done = [], asyncio.get_running_loop().create_future()
        self.pings[ping_id] = (answers, done)
        self.app.messenger.broadcast("showcase-ping", {"id": ping_id, "from": os.getpid()})
        try:
            await asyncio.wait_for(done, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            del self.pings[ping_id]
        answers.sort(key=lambda a: (a["role"], a["pid"]))
        return {"from": os.getpid(), "answers": answers}
