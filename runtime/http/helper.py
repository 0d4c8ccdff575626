"""`ctx.helper`: per-request utilities; `app/extend/helper.py` adds to a per-app subclass."""

from __future__ import annotations

import html
from typing import Any


class Helper:
    __slots__ = ("__dict__", "app", "ctx")

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.app = ctx.app

    def escape(self, text: Any) -> str:
        return html.escape(str(text))

    def path_for(self, name: str, /, **params: Any) -> str:
        """URL of a named route (`app.router.url`): never raises over a missing parameter
        or an unknown name, so a template link cannot turn a page into a 500."""
        url: str = self.app.router.url(name, **params)
        return url

    url_for = path_for
