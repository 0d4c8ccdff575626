"""App worker lifecycle hooks (all optional, sync or async)."""

import time


class Boot:
    def __init__(self, app):
        self.app = app

    def config_did_load(self):
        self.app.config["showcase"].setdefault("booted_by", "app.py")

    async def did_load(self):
        self.app.started_at = time.time()

    async def server_did_ready(self):
        self.app.logger.info("showcase is serving")

    async def before_close(self):
        self.app.logger.info("showcase is closing")
