"""Agent side of the ticker plugin: holds the leader, answers the showcase's pings."""

import os

from runtime.cluster_client import import_file

Ticker = import_file(os.path.join(os.path.dirname(__file__), "lib", "ticker.py")).Ticker


class Boot:
    def __init__(self, agent):
        self.agent = agent
        agent.messenger.on("showcase-ping", self.on_ping)

    def did_load(self):
        # The one real Ticker of the cluster; app workers' `create` with the same
        # arguments reach this one.
        interval = self.agent.config["ticker"]["interval"]
        self.agent.ticker = self.agent.cluster(Ticker).create(interval)

    def on_ping(self, data):
        answer = {"id": data["id"], "pid": os.getpid(), "role": "agent"}
        self.agent.messenger.send_to(data["from"], "showcase-pong", answer)
