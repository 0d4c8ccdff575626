"""Counts the requests this worker served, for every route (no `match`): the middleware
every request of the showcase goes through, `GET /` included. `GET /metrics` reads it."""


def middleware(options, app):
    counts = app.request_counts = {"requests": 0}

    async def metrics(ctx, next):
        counts["requests"] += 1
        await next()

    return metrics
