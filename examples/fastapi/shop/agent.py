"""Runs in the agent only (found beside shop/main.py): creates the Counter leader and
listens to what the workers broadcast."""

import logging

from runtime.app import cluster
from shop.counter import Counter

log = logging.getLogger("shop.agent")


class Boot:
    def __init__(self, agent) -> None:
        self.agent = agent

    def did_load(self) -> None:
        self.agent.visits = cluster.client(Counter).create("visits")  # the leader
        cluster.messenger.on("price-changed", lambda data: log.info("agent saw %s", data))
