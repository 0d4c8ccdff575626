"""Agent lifecycle hooks."""


class Boot:
    def __init__(self, agent):
        self.agent = agent

    def did_ready(self):
        self.agent.logger.info("showcase agent ready (env %s)", self.agent.env)
