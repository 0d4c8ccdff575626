"""The cost of one request in-process, without sockets or a load generator: steady under any
machine load when counted in instructions.

    python bench/request_path.py [--requests 20000] [--layer protocol|asgi] [--kinds ...]
                                 [--path /api/users/1]
    python bench/request_path.py --callgrind [--requests 2000]

Two servers, each fed the same raw `GET /` bytes on one keep-alive connection (a fake
transport collects the response) on uvloop, as a worker serves it:
- `egg`: the showcase app (examples/showcase: router, the `metrics` middleware, a
  controller) through our protocol subclass (runtime/worker/http_protocol.py, with the
  options' default limits) and uvicorn's Config as the app worker builds it (with the
  one-step responder, runtime/worker/one_write.py, under our protocol only);
- `uvicorn`: a hello-world ASGI callable (bench/hello_asgi.py) through uvicorn's own
  `HttpToolsProtocol`, as `uvicorn --http httptools` serves it.
`--layer asgi` calls the ASGI callables directly instead (fresh scope per request): the
app layer alone, no HTTP parsing. `--kinds egg/uvicorn,hello/ours` mixes them, to tell
what the app layer and what the protocol subclass cost; `fastapi/ours,fastapi/uvicorn`
serves bench/asgi_compare.py's FastAPI hello world.

Default output: CPU microseconds per request (process time, best of 5 runs). With
`--callgrind` each server runs twice under `valgrind --tool=callgrind` (N and 2N
requests, same warm-up) and the difference of the instruction counts divided by N is
printed: instructions per request, the same on an idle or a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KINDS = {"egg": "egg/ours", "uvicorn": "hello/uvicorn"}
PATH = os.environ.get("REQUEST_PATH_BENCH_PATH", "/")  # --path, passed on to the children
REQUEST = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n" % (
    PATH.encode()
)


class Transport(asyncio.Transport):
    """What uvicorn's protocol needs from a transport; counts the responses written."""

    def __init__(self) -> None:
        super().__init__()
        self.responses = 0
        self.closing = False
        self.waiter: asyncio.Future[None] | None = None  # resolved at the `until`th write
        self.until = 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.responses += 1
        if self.responses == self.until and self.waiter is not None:
            self.waiter.set_result(None)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def egg_app() -> Any:
    sys.path.insert(0, str(ROOT))
    from runtime.loader import BootInfo, create_app

    app = create_app(BootInfo(base_dir=str(ROOT / "examples" / "showcase"), env="prod"))
    asyncio.get_event_loop().run_until_complete(app.boot())
    return app


def app_entry(name: str) -> Any:
    """The ASGI callable a worker serves: the booted app's `asgi`, or the hello world."""
    return egg_app().asgi if name == "egg" else hello_app()


def app_target(name: str) -> Any:
    """What a worker builds its server for: the booted app, FastAPI's hello world (the
    app of bench/asgi_compare.py) or the hello world."""
    if name == "fastapi":
        return fastapi_app()
    return egg_app() if name == "egg" else hello_app()


def fastapi_app() -> Any:
    from asgi_compare import FASTAPI_APP

    namespace: dict[str, Any] = {}
    exec(compile(FASTAPI_APP, "fastapi_hello.py", "exec"), namespace)
    return namespace["app"]


def hello_app() -> Any:
    sys.path.insert(0, str(HERE))
    from hello_asgi import app

    return app


def our_protocol(app: Any) -> Any:
    from runtime.process.cluster_options import ClusterOptions
    from runtime.worker.http_server import install_responder, server_config

    options = ClusterOptions(base_dir=str(ROOT / "examples" / "showcase"), title="bench")
    install_responder(options, app)  # as build_server does, for an egg app
    config = server_config(options, getattr(app, "asgi", app))
    config.load()
    return config.http_protocol_class, config


def uvicorn_protocol(app: Any) -> Any:
    from uvicorn.config import Config
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    config = Config(app, http="httptools", lifespan="off", access_log=False, log_config=None)
    config.load()
    return HttpToolsProtocol, config


def connection(kind: str) -> tuple[Any, Transport]:
    """A protocol instance serving `kind`, connected to a fake transport."""
    from uvicorn.server import ServerState

    app_name, protocol = KINDS.get(kind, kind).split("/")
    app = app_target(app_name)
    if protocol == "ours":
        cls, config = our_protocol(app)
    else:
        cls, config = uvicorn_protocol(getattr(app, "asgi", app))
    proto = cls(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    proto.connection_made(transport)
    return proto, transport


async def serve_requests(proto: Any, transport: Transport, n: int) -> None:
    """`n` requests through the full protocol, one at a time on one connection. Each read
    is delivered from a loop callback, as the event loop delivers it,
    and this Task wakes once per request, when the response's last write (its body)
    is made: the same bench cost whichever way the server runs the request."""
    loop = asyncio.get_running_loop()
    call_soon = loop.call_soon
    sleep = asyncio.sleep
    writes = await writes_per_response(proto, transport)
    for _ in range(n):
        transport.until = transport.responses + writes
        transport.waiter = waiter = loop.create_future()
        call_soon(proto.data_received, REQUEST)
        await waiter
        while not proto.cycle.response_complete:  # not reached by the apps benched here
            await sleep(0)


async def writes_per_response(proto: Any, transport: Transport) -> int:
    """How many writes a response takes (two as ASGI messages: the head, the body; one
    when the app hands it over in one step), counted on the first request."""
    counted: int | None = getattr(transport, "per_response", None)
    if counted is None:
        before = transport.responses
        proto.data_received(REQUEST)
        while not proto.cycle.response_complete:  # run from a loop callback: let it
            await asyncio.sleep(0)
        counted = transport.per_response = transport.responses - before
    return counted


def call_asgi(app: Any, n: int) -> None:
    """`n` calls of the ASGI callable itself, each with a fresh scope."""

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        return None

    for _ in range(n):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8080),
            "client": ("127.0.0.1", 50000),
            "scheme": "http",
            "method": b"GET".decode(),
            "root_path": "",
            "path": PATH.encode().decode(),
            "raw_path": PATH.encode(),
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"bench")],
            "state": {},
        }
        coro = app(scope, receive, send)
        try:  # noqa: SIM105 - a `with` block would add its own cost to the loop
            coro.send(None)
        except StopIteration:
            pass


def run(kind: str, layer: str, n: int, warmup: int) -> float:
    """Process seconds for `n` requests after `warmup` ones (one process, one loop)."""
    import uvloop

    asyncio.set_event_loop(uvloop.new_event_loop())
    loop = asyncio.get_event_loop()
    if layer == "asgi":
        app = app_entry(KINDS.get(kind, kind).split("/")[0])
        call_asgi(app, warmup)
        start = time.process_time()
        call_asgi(app, n)
        return time.process_time() - start
    proto, transport = connection(kind)
    loop.run_until_complete(serve_requests(proto, transport, warmup))
    start = time.process_time()
    loop.run_until_complete(serve_requests(proto, transport, n))
    elapsed = time.process_time() - start
    proto.connection_lost(None)
    return elapsed


def callgrind_instructions(kind: str, layer: str, n: int) -> float:
    """Instructions per request: (I(warm-up + 2n) - I(warm-up + n)) / n."""
    counts = []
    for total in (n, 2 * n):
        with tempfile.TemporaryDirectory() as tmp:
            argv = [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out",
                sys.executable, __file__, "--child", kind, layer, str(total),
            ]  # fmt: skip
            env = dict(os.environ, PYTHONHASHSEED="0")
            done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
            match = re.search(r"Collected : (\d+)", done.stderr)
            if not match:
                raise RuntimeError(f"no callgrind total in:\n{done.stderr[-2000:]}")
            counts.append(int(match.group(1)))
    return (counts[1] - counts[0]) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--layer", choices=("protocol", "asgi"), default="protocol")
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument(
        "--kinds",
        default="egg,uvicorn",
        help="comma-separated APP/PROTOCOL pairs (APP: egg, hello; PROTOCOL: ours, uvicorn); "
        "egg = egg/ours, uvicorn = hello/uvicorn",
    )
    parser.add_argument("--path", default="/", help="the path requested (default /)")
    args = parser.parse_args()
    os.environ["REQUEST_PATH_BENCH_PATH"] = args.path
    kinds = args.kinds.split(",")
    if args.callgrind:
        n = args.requests or 2000
        per = {kind: callgrind_instructions(kind, args.layer, n) for kind in kinds}
        for kind, value in per.items():
            print(f"{kind:<14} {args.layer:<8} {value:10.0f} instructions/request")
    else:
        n = args.requests or 20000
        per = {}
        for kind in kinds:
            runs = [
                subprocess.run(
                    [sys.executable, __file__, "--child", kind, args.layer, str(n)],
                    capture_output=True, text=True, check=True,
                ).stdout
                for _ in range(5)
            ]  # fmt: skip
            per[kind] = min(float(out.split()[-1]) for out in runs) / n * 1e6
            print(f"{kind:<14} {args.layer:<8} {per[kind]:8.2f} CPU us/request (best of 5)")
    if {"egg", "uvicorn"} <= per.keys():
        print(f"egg / uvicorn: {per['egg'] / per['uvicorn']:.3f}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        kind, layer, total = sys.argv[2], sys.argv[3], int(sys.argv[4])
        print(run(kind, layer, total, warmup=200))
    else:
        main()
