"""Function controllers: `app.controller.home.<name>`."""

import asyncio
import os


async def index(ctx):
    ctx.body = "hello world"


async def pid(ctx):
    ctx.body = str(os.getpid())


async def slow(ctx):
    ms = int(ctx.query.get("ms", "100"))
    await asyncio.sleep(ms / 1000)
    ctx.body = f"slept {ms}ms"


async def echo(ctx):
    ctx.body = ctx.request.body


async def greet(ctx):
    ctx.body = {
        "greeting": ctx.helper.greet(ctx.params["name"]),
        "from_config": ctx.app.config["showcase"]["greeting"],
        "ajax": ctx.is_ajax,
        "url": ctx.app.router.url("greet", name=ctx.params["name"], lang="en"),
    }


async def metrics(ctx):
    """What the `metrics` middleware counted in this worker."""
    ctx.body = {"pid": os.getpid(), **ctx.app.request_counts}
