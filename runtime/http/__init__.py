"""The HTTP layer: Koa-like Context, router, middleware onion and the ASGI entry."""
