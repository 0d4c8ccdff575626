"""Options of `start` that choose the application and tune its HTTP server (SPEC §9).

Part of the option registry (`eggscripts/options.py` lists them in `START`); kept in their
own module because they are one concept: what uvicorn and gunicorn users pass on their
command lines, under the same names where one exists. Each option's name is also its key
in the runtime's options JSON (docs/INTERNALS.md §1), and its default is the runtime's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import click

from eggscripts.option_spec import OptionSpec

APP_TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
SECONDS = click.FloatRange(min=0, min_open=True)


class AppTargetType(click.ParamType):
    name = "module:attr"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not APP_TARGET_RE.match(text):
            self.fail(f"{text!r} is not like module:attribute (e.g. pkg.main:app)", param, ctx)
        return text


APP = OptionSpec(
    "app",
    "Serve this ASGI or WSGI application (FastAPI, Starlette, Django, Flask...) instead of "
    "an egg-style app directory; BASE_DIR goes first on sys.path. Short form: "
    "`eggscripts start module:attr`.",
    type=AppTargetType(),
    metavar="MODULE:ATTR",
)
FACTORY = OptionSpec(
    "factory", "--app names a function returning the application.", is_flag=True, default=False
)
INTERFACE = OptionSpec(
    "interface",
    "Interface of the --app callable; auto tells `async def __call__(scope, receive, send)` "
    "(ASGI) from `__call__(environ, start_response)` (WSGI).",
    type=click.Choice(["auto", "asgi", "wsgi"]),
    default="auto",
)
LIFESPAN = OptionSpec(
    "lifespan",
    "ASGI lifespan: run the app's startup in each worker before it accepts (a failure "
    "fails the start) and its shutdown when the worker stops; auto skips apps that do not "
    "support it.",
    type=click.Choice(["auto", "on", "off"]),
    default="auto",
)
THREADS = OptionSpec(
    "threads",
    "WSGI apps: threads per worker running requests (a2wsgi's pool).",
    type=click.IntRange(min=1),
    default=10,
    metavar="N",
)
ROOT_PATH = OptionSpec(
    "root_path",
    "ASGI root_path: the URL prefix a proxy mounts the app under (e.g. /api).",
    default="",
    default_text="none",
    metavar="PATH",
)
PROXY_HEADERS = OptionSpec(
    "proxy_headers",
    "Trust X-Forwarded-For/-Proto from --forwarded-allow-ips for the client address and scheme "
    "(on by default, as in uvicorn).",
    is_flag=True,
    default=True,
)
FORWARDED_ALLOW_IPS = OptionSpec(
    "forwarded_allow_ips",
    "Comma-separated proxy addresses (or networks, or *) trusted by --proxy-headers.",
    default="127.0.0.1",
    metavar="IPS",
)
ACCESS_LOG = OptionSpec(
    "access_log",
    "Log every request in the common log format plus its duration (seconds), to the app's "
    "web log (stdout in the foreground).",
    is_flag=True,
    default=False,
)
KEEP_ALIVE = OptionSpec(
    "keep_alive",
    "Idle timeout: close a connection idle this many seconds, before its first request too.",
    type=SECONDS,
    default=5.0,
    metavar="S",
)
BACKLOG = OptionSpec(
    "backlog",
    "Listen backlog: connections the kernel queues before they are accepted.",
    type=click.IntRange(min=1),
    default=2048,
    metavar="N",
)
LIMIT_CONCURRENCY = OptionSpec(
    "limit_concurrency",
    "Per worker, answer 503 once this many connections or requests are open.",
    type=click.IntRange(min=1),
    default_text="no limit",
    metavar="N",
)
MAX_BODY = OptionSpec(
    "max_body",
    "Answer 413 to a request body larger than this, for every app (egg-style apps also "
    "keep their bodyparser.limit for the bodies they parse).",
    type=click.IntRange(min=0),
    default_text="no limit",
    metavar="BYTES",
)
MAX_HEADER_SIZE = OptionSpec(
    "max_header_size",
    "Answer 431 when a request line plus headers exceed this (414 for the URL alone).",
    type=click.IntRange(min=1024),
    default=65_536,
    metavar="BYTES",
)
MAX_HEADERS = OptionSpec(
    "max_headers",
    "Answer 431 to a request with more header fields than this.",
    type=click.IntRange(min=1),
    default=100,
    metavar="N",
)
HEADER_TIMEOUT = OptionSpec(
    "header_timeout",
    "Answer 408 and close when a request's headers are not complete this many seconds "
    "after its first byte.",
    type=SECONDS,
    default=10.0,
    metavar="S",
)
BODY_TIMEOUT = OptionSpec(
    "body_timeout",
    "Answer 408 (or close) when a request body sends nothing for this many seconds while "
    "the app waits for it.",
    type=SECONDS,
    default=30.0,
    metavar="S",
)

APP_SPECS: tuple[OptionSpec, ...] = (APP, FACTORY, INTERFACE, LIFESPAN, THREADS)
HTTP_SPECS: tuple[OptionSpec, ...] = (
    ROOT_PATH, PROXY_HEADERS, FORWARDED_ALLOW_IPS, ACCESS_LOG, KEEP_ALIVE, BACKLOG,
    LIMIT_CONCURRENCY, MAX_BODY, MAX_HEADER_SIZE, MAX_HEADERS, HEADER_TIMEOUT, BODY_TIMEOUT,
)  # fmt: skip


def runtime_options(
    values: Mapping[str, Any], specs: tuple[OptionSpec, ...] = (*APP_SPECS, *HTTP_SPECS)
) -> dict[str, Any]:
    """The runtime JSON keys for these options (same names). Values equal to the default
    (which is the runtime's too) are left out, so the JSON stays as short as the command
    line that produced it."""
    return {
        spec.name: values[spec.name]
        for spec in specs
        if values.get(spec.name) is not None and values[spec.name] != spec.default
    }
