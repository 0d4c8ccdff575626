"""Messenger and leader/follower routes (docs/MESSENGER.md); the `ticker` plugin sets up both."""

import os


async def broadcast(ctx):
    """Broadcast a ping to the agent and every worker; list who answered (within 1 s)."""
    ctx.body = await ctx.app.ping_cluster(timeout=1.0)


async def ticks(ctx):
    """The tick the agent's Ticker last pushed to this worker, and its count right now."""
    ctx.body = {
        "worker": os.getpid(),
        "pushed": ctx.app.latest_tick,
        "leader": await ctx.app.ticker.current(),
    }
