"""`start`'s options for the application and its HTTP server (docs/ASGI.md): the part of
the one list of definitions (runtime/contract/option_defs.py) that the app workers read."""

from __future__ import annotations

import re

from runtime.contract.optiondef import OptionDef, seconds

APP_TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

APP = OptionDef(
    "app",
    "Serve this ASGI or WSGI application (FastAPI, Starlette, Django, Flask...) instead of "
    "an egg-style app directory; BASE_DIR goes first on sys.path. Short form: "
    "`eggscripts start module:attr`.",
    pattern=APP_TARGET_RE,
    pattern_text="module:attribute (e.g. pkg.main:app)",
    metavar="MODULE:ATTR",
)
FACTORY = OptionDef("factory", "--app names a function returning the application.", bool, False)
INTERFACE = OptionDef(
    "interface",
    "Interface of the --app callable; auto tells `async def __call__(scope, receive, send)` "
    "(ASGI) from `__call__(environ, start_response)` (WSGI).",
    choices=("auto", "asgi", "wsgi"),
    default="auto",
)
LIFESPAN = OptionDef(
    "lifespan",
    "ASGI lifespan: run the app's startup in each worker before it accepts (a failure "
    "fails the start) and its shutdown when the worker stops; auto skips apps that do not "
    "support it.",
    choices=("auto", "on", "off"),
    default="auto",
)
THREADS = OptionDef(
    "threads",
    "WSGI apps: threads per worker running requests (a2wsgi's pool).",
    int,
    10,
    minimum=1,
    metavar="N",
)
ROOT_PATH = OptionDef(
    "root_path",
    "ASGI root_path: the URL prefix a proxy mounts the app under (e.g. /api).",
    default="",
    default_text="none",
    metavar="PATH",
)
PROXY_HEADERS = OptionDef(
    "proxy_headers",
    "Trust X-Forwarded-For/-Proto from --forwarded-allow-ips for the client address and scheme "
    "(on by default, as in uvicorn).",
    bool,
    True,
)
FORWARDED_ALLOW_IPS = OptionDef(
    "forwarded_allow_ips",
    "Comma-separated proxy addresses (or networks, or *) trusted by --proxy-headers.",
    default="127.0.0.1",
    metavar="IPS",
)
ACCESS_LOG = OptionDef(
    "access_log",
    "Log every request in the common log format plus its duration (seconds), to the app's "
    "web log (stdout in the foreground).",
    bool,
    False,
)
KEEP_ALIVE = seconds(
    "keep_alive",
    "Idle timeout: close a connection idle this many seconds, before its first request too.",
    5.0,
)
BACKLOG = OptionDef(
    "backlog",
    "Listen backlog: connections the kernel queues before they are accepted.",
    int,
    2048,
    minimum=1,
    metavar="N",
)
LIMIT_CONCURRENCY = OptionDef(
    "limit_concurrency",
    "Per worker, answer 503 once this many connections or requests are open.",
    int,
    minimum=1,
    default_text="no limit",
    metavar="N",
)
MAX_BODY = OptionDef(
    "max_body",
    "Answer 413 to a request body larger than this, for every app (egg-style apps also "
    "keep their bodyparser.limit for the bodies they parse).",
    int,
    minimum=0,
    default_text="no limit",
    metavar="BYTES",
)
MAX_HEADER_SIZE = OptionDef(
    "max_header_size",
    "Answer 431 when a request line plus headers exceed this (414 for the URL alone).",
    int,
    65_536,
    minimum=1024,
    metavar="BYTES",
)
MAX_HEADERS = OptionDef(
    "max_headers",
    "Answer 431 to a request with more header fields than this.",
    int,
    100,
    minimum=1,
    metavar="N",
)
HEADER_TIMEOUT = seconds(
    "header_timeout",
    "Answer 408 and close when a request's headers are not complete this many seconds "
    "after its first byte.",
    10.0,
)
SERVER_HEADER = OptionDef(
    "server_header", "Send a `Server: uvicorn` header in every response (uvicorn's).", bool, True
)
DATE_HEADER = OptionDef(
    "date_header", "Send a `Date` header in every response (uvicorn's).", bool, True
)
BODY_TIMEOUT = seconds(
    "body_timeout",
    "Answer 408 (or close) when a request body sends nothing for this many seconds while "
    "the app waits for it.",
    30.0,
)


APPLICATION: tuple[OptionDef, ...] = (APP, FACTORY, INTERFACE, LIFESPAN, THREADS)
HTTP: tuple[OptionDef, ...] = (
    ROOT_PATH, PROXY_HEADERS, FORWARDED_ALLOW_IPS, ACCESS_LOG, KEEP_ALIVE, BACKLOG,
    LIMIT_CONCURRENCY, MAX_BODY, MAX_HEADER_SIZE, MAX_HEADERS, HEADER_TIMEOUT, BODY_TIMEOUT,
    SERVER_HEADER, DATE_HEADER,
)  # fmt: skip
APP_AND_HTTP: tuple[OptionDef, ...] = (*APPLICATION, *HTTP)
