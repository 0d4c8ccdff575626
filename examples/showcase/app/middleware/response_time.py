"""Adds a response-time header; `match: /api` in config limits it to the API."""

import time


def middleware(options, app):
    header = options.get("header", "x-response-time")

    async def response_time(ctx, next):
        start = time.perf_counter()
        await next()
        ctx.set(header, f"{(time.perf_counter() - start) * 1000:.3f}ms")

    return response_time
