"""A leader/follower client (docs/MESSENGER.md): one `Counter` lives in the agent; every app worker
gets a follower whose `incr` runs on that one leader, so the count is cluster-wide."""


class Counter:
    follower_methods = ("incr",)

    def __init__(self, name: str) -> None:
        self.name = name
        self.value = 0

    def subscribe(self, reg, listener) -> None:  # unused here; part of the client API
        pass

    def publish(self, reg) -> None:
        pass

    async def incr(self) -> int:
        self.value += 1
        return self.value
