"""Going round uvicorn's proxy-headers middleware where it would change nothing.

uvicorn wraps the app in `ProxyHeadersMiddleware` (on by default): for every request it
adds a coroutine, tests the client against the trusted addresses and walks the headers,
about a hello-world app's own cost. The middleware only acts for a trusted client sending
`X-Forwarded-*` headers; for any other request it calls the app as it is. The client is
the same for a whole connection, so the protocol asks once per connection, and per request
only looks for a forwarding header (`X-Forwarded-*`, or the standard `Forwarded` in case a
later uvicorn reads it; inline in http_protocol.py): a request that has none, or comes
from an untrusted client, goes to the app directly. Any request the middleware could act
on still goes through it, so its behaviour (and a fix in it) is kept.
"""

from __future__ import annotations

from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


def proxy_parts(app: Any, client: tuple[str, int] | None) -> tuple[Any, Any, bool]:
    """(middleware, the app it wraps, whether it can act for `client`), or `(None, app,
    False)` when `app` is not the middleware."""
    if not isinstance(app, ProxyHeadersMiddleware):
        return None, app, False
    return app, app.app, (client[0] if client else None) in app.trusted_hosts
