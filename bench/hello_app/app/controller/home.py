"""`/`: hello world; `/pid`: which worker answered (the SIGKILL check needs it)."""

import os


async def index(ctx):
    ctx.body = "hello world"


async def pid(ctx):
    ctx.body = str(os.getpid())
